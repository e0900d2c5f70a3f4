// The benchmark's settings, read once from the environment into one
// immutable object that every module is handed.
import { type WorkloadName, WORKLOADS } from "./workloads.ts";

/** The commit whose figures BENCHMARKS.md shows: rerun beside the working tree by default. */
export const DEFAULT_BASELINE = "bc253a1";

export interface BenchConfig {
  /** The working tree: the repository root, ending in "/". */
  root: string;
  adminUrl: string;
  /** Port of the Postgres server, for the proxy in front of it. */
  dbPort: string;
  /** Migrated template database of the working tree, cloned per run. */
  template: string;
  scale: number;
  /** Runs per loopback row; the median-throughput one is reported. */
  repeat: number;
  /** Hold of every answer from Postgres in the second matrix; 0 skips it. */
  delayMs: number;
  pgbench: string;
  workloads: WorkloadName[];
  /** Git ref rerun side by side, or null (BENCH_BASELINE=none). */
  baselineRef: string | null;
  /** What to run: loopback, network, pgbench, cold, rights, merge, instances (BENCH_SECTIONS, comma-separated; all by default). */
  sections: Set<Section>;
  /** Process starts per cold-start figure. */
  coldRuns: number;
  jwtSecret: string;
  /** Database connections per client process (pool of the limit path and of the servers). */
  pool: number;
  concurrency: number[];
}

export const SECTIONS = [
  "loopback",
  "network",
  "pgbench",
  "cold",
  "rights",
  "merge",
  "instances",
] as const;
export type Section = (typeof SECTIONS)[number];

type Env = { get(name: string): string | undefined };

/** BENCH_BASELINE: the ref to rerun beside the working tree, or null for none. */
export function baselineRef(env: Env): string | null {
  const baseline = env.get("BENCH_BASELINE") ?? DEFAULT_BASELINE;
  return ["", "none", "off"].includes(baseline) ? null : baseline;
}

export function readConfig(env: Env, root: string): BenchConfig {
  const adminUrl = env.get("BENCH_ADMIN_URL");
  if (!adminUrl) throw new Error("BENCH_ADMIN_URL is not set: run `npm run bench`");
  const only = (env.get("BENCH_ONLY") ?? "").split(",").filter(Boolean);
  const sections = (env.get("BENCH_SECTIONS") ?? SECTIONS.join(",")).split(",").filter(Boolean);
  const unknown = sections.filter((s) => !(SECTIONS as readonly string[]).includes(s));
  if (unknown.length) throw new Error(`BENCH_SECTIONS: unknown ${unknown.join(", ")}`);
  return {
    root,
    adminUrl,
    dbPort: new URL(adminUrl).port || "5432",
    template: env.get("BENCH_TEMPLATE") ?? "bench_template",
    scale: Number(env.get("BENCH_SCALE") ?? "1"),
    repeat: Number(env.get("BENCH_REPEAT") ?? "3"),
    delayMs: Number(env.get("BENCH_DB_DELAY_MS") ?? "1"),
    pgbench: env.get("PGBENCH") ?? "",
    workloads: WORKLOADS.filter((w) => only.length === 0 || only.includes(w)),
    baselineRef: baselineRef(env),
    sections: new Set(sections as Section[]),
    coldRuns: Number(env.get("BENCH_COLD_RUNS") ?? "5"),
    jwtSecret: "bench-secret-with-at-least-32-characters-long!!",
    pool: 16,
    concurrency: [1, 16, 64],
  };
}

/** Timed requests of one row. */
export function requestsFor(config: BenchConfig, concurrency: number): number {
  return Math.round((concurrency === 1 ? 400 : 2000) * config.scale);
}
