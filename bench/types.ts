// What a benchmark run produces: the shapes shared by the runner, the
// report, the chart and the JSON file.
import type { WorkloadName } from "./workloads.ts";

export const PATHS = ["limit", "functions", "seed"] as const;
export type PathName = (typeof PATHS)[number];

/** "current" is the working tree; "baseline" a git ref rerun beside it. */
export type SideName = "current" | "baseline";

export interface Verification {
  customers: number;
  expectedCustomers: number;
  duplicates: number;
  profilesOffLedger: number;
  bookingsCounted: number;
  expectedBookings: number;
  ok: boolean;
}

export interface RunResult {
  side: SideName;
  workload: WorkloadName;
  path: PathName;
  concurrency: number;
  requests: number;
  errors: number;
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  statements: number;
  roundTrips: number;
  peakRssMiB: number | null;
  verify: Verification;
}

export interface PerRequest {
  statements: number;
  roundTrips: number;
}

export interface PgbenchResult {
  tps: number;
  latencyMs: number;
}
