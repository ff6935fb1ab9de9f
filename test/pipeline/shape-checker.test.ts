// The checker that scores the demo model must itself be right: it is tried on shapes
// drawn here (square and non-square images), and on an image with no shape.
import { describe, expect, it } from 'vitest';
import { classify, PALETTE, type Colour, type Shape } from '../support/shape-checker.js';

function draw(shape: Shape, colour: Colour, background: Colour, width = 128, height = 128, [cx, cy, r] = [60, 70, 30]): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inside =
        shape === 'circle'
          ? (x - cx) ** 2 + (y - cy) ** 2 <= r * r
          : shape === 'square'
            ? Math.abs(x - cx) <= r && Math.abs(y - cy) <= r
            : y >= cy - r && y <= cy + r && Math.abs(x - cx) <= ((y - (cy - r)) / (2 * r)) * r;
      rgb.set(PALETTE[inside ? colour : background], (y * width + x) * 3);
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

  it.each([
    ['triangle', 'red', 'black', 192, 128, [150, 60, 40]],
    ['circle', 'blue', 'yellow', 128, 192, [50, 150, 35]],
    ['square', 'green', 'white', 256, 256, [200, 40, 30]],
  ] as const)('recognises a %s, %s on %s in a %dx%d image', (shape, colour, background, width, height, at) => {
    const c = classify(draw(shape, colour, background, width, height, [...at]), width, height);
    expect([c.shape, c.shapeColour, c.background]).toEqual([shape, colour, background]);
    expect(c.box).toEqual({ x0: at[0] - at[2], y0: at[1] - at[2], x1: at[0] + at[2] + 1, y1: at[1] + at[2] + 1 });
  });

  it('finds no shape in a plain image', () => {
    const plain = new Uint8Array(128 * 128 * 3);
    for (let i = 0; i < plain.length; i += 3) plain.set(PALETTE.green, i);
    expect(classify(plain, 128, 128)).toMatchObject({ background: 'green', shape: null, shapeColour: null });
  });
});
