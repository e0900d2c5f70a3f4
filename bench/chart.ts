// bench/latency.svg: latency percentiles against concurrency, one panel per
// workload, one colour per path; solid p50, dashed p99 (log scale).
import type { RunResult } from "./types.ts";

const COLORS: Record<string, string> = { limit: "#2b8a3e", functions: "#1c7ed6", seed: "#e8590c" };
const W = 300;
const H = 230;
const PAD = { left: 48, right: 12, top: 28, bottom: 36 };

export function renderChart(results: RunResult[]): string {
  const workloads = [...new Set(results.map((r) => r.workload))];
  const levels = [...new Set(results.map((r) => r.concurrency))].sort((a, b) => a - b);
  const values = results.flatMap((r) => [r.p50, r.p99]).filter((v) => v > 0);
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...values))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...values))));
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const inset = 16; // keeps the first and last points clear of the axis labels
  const span = innerW - 2 * inset;
  const x = (i: number) =>
    PAD.left + inset + (levels.length === 1 ? span / 2 : (i * span) / (levels.length - 1));
  const y = (v: number) =>
    PAD.top + innerH * (1 - (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)));
  const parts: string[] = [];
  workloads.forEach((workload, panel) => {
    const ox = panel * W;
    const g: string[] = [`<g transform="translate(${ox},0)">`];
    g.push(`<text x="${W / 2}" y="16" text-anchor="middle" font-weight="bold">${workload}</text>`);
    for (let d = lo; d <= hi; d *= 10) {
      g.push(
        `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(d)}" y2="${y(d)}" stroke="#ddd"/>`,
      );
      g.push(
        `<text x="${PAD.left - 4}" y="${y(d) + 4}" text-anchor="end" font-size="10">${d} ms</text>`,
      );
    }
    levels.forEach((c, i) => {
      g.push(
        `<text x="${x(i)}" y="${
          H - PAD.bottom + 14
        }" text-anchor="middle" font-size="10">c=${c}</text>`,
      );
    });
    for (const path of Object.keys(COLORS)) {
      for (const [key, dash] of [["p50", ""], ["p99", ' stroke-dasharray="4 3"']] as const) {
        const points = levels.map((c, i) => {
          const r = results.find((r) =>
            r.workload === workload && r.path === path && r.concurrency === c
          );
          return r && r[key] > 0 ? `${x(i).toFixed(1)},${y(r[key]).toFixed(1)}` : null;
        }).filter(Boolean);
        g.push(
          `<polyline fill="none" stroke="${COLORS[path]}" stroke-width="2"${dash} points="${
            points.join(" ")
          }"/>`,
        );
      }
    }
    g.push("</g>");
    parts.push(g.join(""));
  });
  const legendY = H + 8;
  const legend =
    Object.entries(COLORS).map(([path, color], i) =>
      `<g transform="translate(${
        PAD.left + i * 130
      },${legendY})"><line x1="0" x2="24" y1="0" y2="0" stroke="${color}" stroke-width="2"/><text x="30" y="4" font-size="11">${path}</text></g>`
    ).join("") +
    `<text x="${PAD.left + 400}" y="${legendY + 4}" font-size="11">solid: p50, dashed: p99</text>`;
  const width = W * workloads.length;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${
    H + 24
  }" font-family="sans-serif" font-size="12">` +
    `<rect width="100%" height="100%" fill="white"/>${parts.join("")}${legend}</svg>\n`;
}
