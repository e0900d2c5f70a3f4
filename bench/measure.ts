// Driving a path with N concurrent workers and summarizing the latencies.
// Used in the harness (HTTP paths) and in each side's limit driver.
import { progress } from "./progress.ts";

export interface DriveResult {
  /** Milliseconds per call, in completion order. */
  latencies: number[];
  errors: number;
  seconds: number;
}

export interface Summary {
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Run `call` over `items` with `concurrency` workers; a call that throws or returns false is an error. */
export async function drive<T>(
  label: string,
  items: T[],
  concurrency: number,
  call: (item: T) => Promise<boolean>,
  silent = false,
): Promise<DriveResult> {
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const started = performance.now();
  const shown = silent ? undefined : progress(label, items.length);
  const ticker = shown && setInterval(() => shown.update(next), 1000);
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++];
      const t0 = performance.now();
      let ok = false;
      try {
        ok = await call(item);
      } catch {
        ok = false;
      }
      latencies.push(performance.now() - t0);
      if (!ok) errors++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  clearInterval(ticker);
  shown?.finish();
  return { latencies, errors, seconds: (performance.now() - started) / 1000 };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}

export function summarize({ latencies, seconds }: DriveResult): Summary {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    rps: latencies.length / seconds,
    p50: percentile(sorted, 0.5),
    p95: percentile(sorted, 0.95),
    p99: percentile(sorted, 0.99),
    max: sorted[sorted.length - 1],
  };
}

/** The middle value (the upper one of an even count), NaN for none. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.floor(sorted.length / 2)];
}
