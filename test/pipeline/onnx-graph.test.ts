// The ONNX protobuf reader the loader uses for what onnxruntime-node does not expose (a
// UNet's downsampling convolutions and input channels), on real exports.
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { at } from '../../src/checked.js';
import { ModelLoadError } from '../../src/pipeline/errors.js';
import { readGraph } from '../../src/pipeline/onnx/graph.js';

const stride2 = (file: string) => readGraph(file).nodes.filter((n) => n.opType === 'Conv' && n.strides?.join() === '2,2').length;

describe('ONNX graph reader', () => {
  it("counts a diffusers UNet's stride-2 convolutions and reads conv_in's weight shape (weights in weights.pb, never read)", () => {
    const file = 'test/fixtures/sd15-tiny/sd15-tiny-legacy/unet/model.onnx';
    const graph = readGraph(file);
    expect(graph.nodes.length).toBe(2260);
    expect(stride2(file)).toBe(2);
    const convIn = graph.nodes.find((n) => n.opType === 'Conv' && n.inputs[0] === 'sample')!;
    expect(graph.initializers.get(at(convIn.inputs, 1))).toEqual([32, 4, 3, 3]);
    expect(stride2('test/fixtures/sd15-tiny/sd15-tiny-optimum/unet/model.onnx')).toBe(2);
    expect(stride2('models/shapes-demo/unet/model.onnx')).toBe(2);
  });

  it('finds the nodes that draw noise in a VAE encoder', () => {
    const ops = (file: string) => readGraph(file).nodes.map((n) => n.opType);
    expect(ops('test/fixtures/sd15-tiny/sd15-tiny-legacy/vae_encoder/model.onnx')).toContain('RandomNormalLike');
    expect(ops('test/fixtures/sd15-tiny/sd15-tiny-optimum/vae_encoder/model.onnx')).not.toContain('RandomNormalLike');
  });

  it('refuses a truncated file and a missing one with a ModelLoadError', () => {
    const dir = mkdtempSync(join(tmpdir(), 'graph-'));
    const whole = join(dir, 'whole.onnx');
    copyFileSync('test/fixtures/onnx-variants/timestep-float32-1/unet/model.onnx', whole);
    const cut = join(dir, 'cut.onnx');
    const bytes = readFileSync(whole);
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    expect(readGraph(whole).nodes.length).toBeGreaterThan(0);
    expect(() => readGraph(cut)).toThrow(ModelLoadError);
    expect(() => readGraph(cut)).toThrow(/cut\.onnx is not a readable ONNX file/);
    expect(() => readGraph(join(dir, 'nope.onnx'))).toThrow(/missing .*nope\.onnx/);
  });
});
