// The `parameters` text of every PNG, in AUTOMATIC1111's format (other tools read it).
// Only generation parameters: no job id or time, so a rerun writes identical bytes.
import { editLabel } from './edits.js';
import { rngLabel, samplerLabel } from './names.js';
import type { GenerationSettings, PipelineEdit } from './request.js';

export function formatParameters(
  settings: GenerationSettings & { edit?: PipelineEdit | null },
  imageSeed: number,
  model: { name: string; hash: string },
  strength: number | null,
): string {
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
  const edit = settings.edit;
  if (edit !== undefined && edit !== null) fields.push(`Edit: ${edit.kind === 'mask' ? 'inpaint (mask)' : editLabel(edit)}`);
  const lines = [settings.prompt];
  if (settings.negativePrompt) lines.push(`Negative prompt: ${settings.negativePrompt}`);
  lines.push(fields.join(', '));
  return lines.join('\n');
}
