// The demo model's automatic quality checker: classifies a generated image's background
// colour, shape colour and shape, so tests can score a prompt -> image model without a
// human looking.
import { u8At } from '../../src/checked.js';

export const PALETTE = {
  red: [230, 30, 30],
  green: [30, 170, 60],
  blue: [30, 80, 230],
  yellow: [250, 220, 30],
  white: [245, 245, 245],
  black: [15, 15, 15],
  purple: [140, 50, 190],
  orange: [250, 140, 20],
} as const satisfies Record<string, readonly [number, number, number]>;

export type Colour = keyof typeof PALETTE;
export const COLOURS = Object.keys(PALETTE) as Colour[];
export const SHAPES = ['circle', 'square', 'triangle'] as const;
export type Shape = (typeof SHAPES)[number];

/** Fill ratio of the bounding box for each shape. */
const FILL: Record<Shape, number> = { circle: Math.PI / 4, square: 1, triangle: 0.5 };

function nearestColour(r: number, g: number, b: number): Colour {
  let best: Colour = 'red';
  let bestD = Infinity;
  for (const name of COLOURS) {
    const [pr, pg, pb] = PALETTE[name];
    const d = (r - pr) ** 2 + (g - pg) ** 2 + (b - pb) ** 2;
    if (d < bestD) {
      bestD = d;
      best = name;
    }
  }
  return best;
}

function majority<T>(items: T[]): T | null {
  const counts = new Map<T, number>();
  for (const i of items) counts.set(i, (counts.get(i) ?? 0) + 1);
  let best: T | null = null;
  let n = 0;
  for (const [k, c] of counts) if (c > n) [best, n] = [k, c];
  return best;
}

export interface Classification {
  background: Colour;
  shapeColour: Colour | null;
  shape: Shape | null;
  fill: number;
  /** The bounding box of the pixels that differ from the background (x1, y1 exclusive), or null when there is no shape. */
  box: { x0: number; y0: number; x1: number; y1: number } | null;
}

/** Classifies one RGB image (width x height x 3 bytes). */
export function classify(rgb: Uint8Array, width: number, height: number): Classification {
  const px = (x: number, y: number) => {
    const i = (y * width + x) * 3;
    return [u8At(rgb, i), u8At(rgb, i + 1), u8At(rgb, i + 2)] as const;
  };
  const border: Colour[] = [];
  for (let x = 0; x < width; x++) border.push(nearestColour(...px(x, 0)), nearestColour(...px(x, height - 1)));
  for (let y = 0; y < height; y++) border.push(nearestColour(...px(0, y)), nearestColour(...px(width - 1, y)));
  const background = majority(border)!;
  const bg = PALETTE[background];

  const shapeColours: Colour[] = [];
  let minX = width;
  let minY = height;
  let maxX = -1;
  let maxY = -1;
  let count = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = px(x, y);
      // "Differs from the background": far from its palette colour.
      if ((r - bg[0]) ** 2 + (g - bg[1]) ** 2 + (b - bg[2]) ** 2 < 60 ** 2) continue;
      const c = nearestColour(r, g, b);
      if (c === background) continue;
      shapeColours.push(c);
      count++;
      minX = Math.min(minX, x);
      maxX = Math.max(maxX, x);
      minY = Math.min(minY, y);
      maxY = Math.max(maxY, y);
    }
  }
  if (count < 16) return { background, shapeColour: null, shape: null, fill: 0, box: null };
  const fill = count / ((maxX - minX + 1) * (maxY - minY + 1));
  let shape: Shape = 'square';
  for (const s of SHAPES) if (Math.abs(FILL[s] - fill) < Math.abs(FILL[shape] - fill)) shape = s;
  return { background, shapeColour: majority(shapeColours), shape, fill, box: { x0: minX, y0: minY, x1: maxX + 1, y1: maxY + 1 } };
}

/** Every (shape colour, shape, background) combination the prompt grammar allows. */
export function allCombinations(): { colour: Colour; shape: Shape; background: Colour }[] {
  const out: { colour: Colour; shape: Shape; background: Colour }[] = [];
  for (const colour of COLOURS)
    for (const shape of SHAPES)
      for (const background of COLOURS) {
        if (colour !== background) out.push({ colour, shape, background });
      }
  return out;
}
