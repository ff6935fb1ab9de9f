// A line chart as SVG (no chart library), rendered to PNG with sharp.
import sharp from 'sharp';

export interface Series {
  name: string;
  /** [x, y] pairs, in the order to draw them. */
  points: Array<[number, number]>;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Pixels. Default 900 x 560. */
  width?: number;
  height?: number;
}

// Distinguishable on white, also for the common colour-vision deficiencies (Okabe-Ito, then extras).
const COLOURS = ['#000000', '#E69F00', '#56B4E9', '#009E73', '#BFA300', '#0072B2', '#D55E00', '#CC79A7', '#999999', '#8B4513', '#4B0082'];
const DASHES = ['', '6 3', '2 3', '8 3 2 3'];

const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** 1, 2 or 5 times a power of ten: about `count` ticks from 0 to past `max`. */
function niceStep(max: number, count: number): number {
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? raw;
}

const formatTick = (v: number) => (Math.abs(v) >= 1000 || Number.isInteger(v) ? String(Math.round(v)) : v.toPrecision(3));

export function lineChartSvg(options: LineChartOptions): string {
  const width = options.width ?? 900;
  const height = options.height ?? 560;
  const margin = { left: 80, right: 190, top: 50, bottom: 60 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const points = options.series.flatMap((s) => s.points);
  if (points.length === 0) throw new RangeError('lineChartSvg: no points to draw');
  const xStep = niceStep(Math.max(...points.map((p) => p[0])), 6);
  const yStep = niceStep(Math.max(...points.map((p) => p[1])), 6);
  const xMax = Math.ceil(Math.max(...points.map((p) => p[0])) / xStep) * xStep;
  const yMax = Math.ceil(Math.max(...points.map((p) => p[1])) / yStep) * yStep;
  const px = (x: number) => margin.left + (x / xMax) * plotW;
  const py = (y: number) => margin.top + plotH - (y / yMax) * plotH;

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, sans-serif" font-size="13">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="28" text-anchor="middle" font-size="17">${escapeXml(options.title)}</text>`,
  ];
  for (let y = 0; y <= yMax + 1e-9; y += yStep) {
    parts.push(`<line x1="${margin.left}" y1="${py(y)}" x2="${margin.left + plotW}" y2="${py(y)}" stroke="#e3e3e3"/>`);
    parts.push(`<text x="${margin.left - 8}" y="${py(y) + 4}" text-anchor="end">${formatTick(y)}</text>`);
  }
  for (let x = 0; x <= xMax + 1e-9; x += xStep) {
    parts.push(`<line x1="${px(x)}" y1="${margin.top + plotH}" x2="${px(x)}" y2="${margin.top + plotH + 5}" stroke="#333333"/>`);
    parts.push(`<text x="${px(x)}" y="${margin.top + plotH + 20}" text-anchor="middle">${formatTick(x)}</text>`);
  }
  parts.push(`<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333333"/>`);
  parts.push(`<text x="${margin.left + plotW / 2}" y="${height - 15}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`);
  parts.push(
    `<text transform="translate(22 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(options.yLabel)}</text>`,
  );

  options.series.forEach((series, i) => {
    const colour = COLOURS[i % COLOURS.length];
    // Lines of near-equal samplers overlap: dash patterns keep each one visible.
    const dash = DASHES[i % DASHES.length];
    const path = series.points.map(([x, y], j) => `${j === 0 ? 'M' : 'L'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    parts.push(`<path d="${path}" fill="none" stroke="${colour}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
    for (const [x, y] of series.points) parts.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${colour}"/>`);
    const ly = margin.top + 10 + i * 22;
    const lx = margin.left + plotW + 20;
    parts.push(
      `<line x1="${lx}" y1="${ly}" x2="${lx + 28}" y2="${ly}" stroke="${colour}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`,
    );
    parts.push(`<text x="${lx + 36}" y="${ly + 4}">${escapeXml(series.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

export async function renderPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg)).png().toBuffer();
}
