/** What a worker advertises about each model it serves (the bot maps aspects and validates samplers with it). */
export interface ModelInfo {
  name: string;
  nativeWidth: number;
  nativeHeight: number;
  /** Width and height must be multiples of this (64 for SD exports). */
  sizeMultiple: number;
  defaultSampler: string;
  samplers: string[];
}
