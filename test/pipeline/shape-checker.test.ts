// The checker that scores the demo model must itself be right: it is tried on shapes
// drawn here, and on an image with no shape.
import { describe, expect, it } from 'vitest';
import { classify, PALETTE, type Colour, type Shape } from '../support/shape-checker.js';

function draw(shape: Shape, colour: Colour, background: Colour, size = 128): Uint8Array {
  const rgb = new Uint8Array(size * size * 3);
  const [cx, cy, r] = [60, 70, 30];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const inside =
        shape === 'circle'
          ? (x - cx) ** 2 + (y - cy) ** 2 <= r * r
          : shape === 'square'
            ? Math.abs(x - cx) <= r && Math.abs(y - cy) <= r
            : y >= cy - r && y <= cy + r && Math.abs(x - cx) <= ((y - (cy - r)) / (2 * r)) * r;
      rgb.set(PALETTE[inside ? colour : background], (y * size + x) * 3);
    }
  }
  return rgb;
}

describe('shape checker', () => {
  it.each([
    ['circle', 'red', 'blue'],
    ['square', 'yellow', 'black'],
    ['triangle', 'white', 'purple'],
    ['circle', 'orange', 'green'],
  ] as const)('recognises a %s, %s on %s', (shape, colour, background) => {
    const c = classify(draw(shape, colour, background), 128, 128);
    expect([c.shape, c.shapeColour, c.background]).toEqual([shape, colour, background]);
  });

  it('finds no shape in a plain image', () => {
    const plain = new Uint8Array(128 * 128 * 3);
    for (let i = 0; i < plain.length; i += 3) plain.set(PALETTE.green, i);
    expect(classify(plain, 128, 128)).toMatchObject({ background: 'green', shape: null, shapeColour: null });
  });
});
