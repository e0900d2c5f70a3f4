// bench/scale.svg: latency against the number of guests (both axes log),
// one colour per operation; solid p50, dashed p99.
import type { Summary } from "./measure.ts";

interface Point {
  op: string;
  guests: number;
  summary: Summary;
}

const PALETTE = ["#1c7ed6", "#2b8a3e", "#e8590c", "#862e9c", "#c92a2a", "#5c940d", "#495057"];
const W = 640;
const H = 360;
const PAD = { left: 56, right: 170, top: 28, bottom: 40 };

export function renderScaleChart(points: Point[]): string {
  const ops = [...new Set(points.map((p) => p.op))];
  const sizes = [...new Set(points.map((p) => p.guests))].sort((a, b) => a - b);
  const values = points.flatMap((p) => [p.summary.p50, p.summary.p99]).filter((v) => v > 0);
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...values))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...values))));
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const inset = 20;
  const x = (i: number) =>
    PAD.left + inset +
    (sizes.length === 1
      ? (innerW - 2 * inset) / 2
      : (i * (innerW - 2 * inset)) / (sizes.length - 1));
  const y = (v: number) =>
    PAD.top + innerH * (1 - (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)));
  const parts: string[] = [
    `<text x="${PAD.left + innerW / 2}" y="16" text-anchor="middle" font-weight="bold">` +
    "latency against guests in the database (c=16, HTTP)</text>",
  ];
  for (let d = lo; d <= hi; d *= 10) {
    parts.push(
      `<line x1="${PAD.left}" x2="${PAD.left + innerW}" y1="${y(d)}" y2="${y(d)}" stroke="#ddd"/>`,
      `<text x="${PAD.left - 4}" y="${y(d) + 4}" text-anchor="end" font-size="10">${d} ms</text>`,
    );
  }
  sizes.forEach((s, i) =>
    parts.push(
      `<text x="${x(i)}" y="${H - PAD.bottom + 16}" text-anchor="middle" font-size="10">${
        s.toLocaleString("en-US")
      } guests</text>`,
    )
  );
  ops.forEach((op, k) => {
    const color = PALETTE[k % PALETTE.length];
    for (const [key, dash] of [["p50", ""], ["p99", ' stroke-dasharray="4 3"']] as const) {
      const line = sizes.map((s, i) => {
        const p = points.find((p) => p.op === op && p.guests === s);
        return p && p.summary[key] > 0
          ? `${x(i).toFixed(1)},${y(p.summary[key]).toFixed(1)}`
          : null;
      }).filter(Boolean);
      parts.push(
        `<polyline fill="none" stroke="${color}" stroke-width="2"${dash} points="${
          line.join(" ")
        }"/>`,
      );
    }
    const ly = PAD.top + 10 + k * 18;
    parts.push(
      `<line x1="${W - PAD.right + 12}" x2="${
        W - PAD.right + 36
      }" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${W - PAD.right + 42}" y="${ly + 4}" font-size="11">${op}</text>`,
    );
  });
  parts.push(
    `<text x="${W - PAD.right + 12}" y="${
      PAD.top + 20 + ops.length * 18
    }" font-size="11">solid p50, dashed p99</text>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" ` +
    `font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/>` +
    `${parts.join("")}</svg>\n`;
}
