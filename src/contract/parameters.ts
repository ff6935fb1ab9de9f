// The `parameters` text of every PNG, in AUTOMATIC1111's format (other tools read it).
// Only generation parameters: no job id or time, so a rerun writes identical bytes.
import { editDenoises, editLabel } from './edits.js';
import { rngLabel, samplerLabel } from './names.js';
import type { GenerationRequest } from './request.js';

/** `request`'s parameters for image `imageSeed`; the strength is the start image's, unless the edit runs no denoising (a subtle upscale). */
export function formatParameters(
  request: Pick<GenerationRequest, keyof GenerationRequest>,
  imageSeed: number,
  model: { name: string; hash: string },
): string {
  const settings = request;
  const edit = request.edit;
  const strength =
    request.init === undefined || (edit !== undefined && edit.kind !== 'mask' && !editDenoises(edit)) ? null : request.init.strength;
  const fields = [
    `Steps: ${settings.steps}`,
    `Sampler: ${samplerLabel(settings.sampler)}`,
    `CFG scale: ${settings.guidance}`,
    `Seed: ${imageSeed}`,
    `Size: ${settings.width}x${settings.height}`,
    `Model hash: ${model.hash.slice(0, 10)}`,
    `Model: ${model.name}`,
    `RNG: ${rngLabel(settings.rng)}`,
  ];
  if (strength !== null) fields.push(`Denoising strength: ${strength}`);
  if (edit !== undefined) fields.push(`Edit: ${edit.kind === 'mask' ? 'inpaint (mask)' : editLabel(edit)}`);
  const lines = [settings.prompt];
  if (settings.negativePrompt) lines.push(`Negative prompt: ${settings.negativePrompt}`);
  lines.push(fields.join(', '));
  return lines.join('\n');
}
