export { ClipTokenizer, DEFAULT_MAX_LENGTH, END_OF_TEXT, START_OF_TEXT } from './clip-tokenizer.js';
export type { ClipEncoding, ClipTokenizerOptions, ClipTokens } from './clip-tokenizer.js';
