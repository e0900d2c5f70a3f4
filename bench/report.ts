// The Markdown report (bench/results/latest.md and the console): the same
// tables as BENCHMARKS.md, a baseline's rows beside the working tree's, and
// the cold-start breakdown.
import type { ColdStartReport } from "./cold_start.ts";
import { rowName } from "./sides.ts";
import type { PathName, PgbenchResult, RunResult, SideName } from "./types.ts";
import { WORKLOADS } from "./workloads.ts";

export interface ReportInput {
  version: string;
  cores: number;
  scale: number;
  repeat: number;
  coldRuns: number;
  concurrency: number[];
  /** "@<commit>" of the baseline, or null when none ran. */
  baselineLabel: string | null;
  results: RunResult[];
  network: RunResult[] | null;
  /** By concurrency; empty when pgbench is not installed, null when not run. */
  pgbench: Record<number, PgbenchResult | null> | null;
  cold: ColdStartReport | null;
}

const f = (n: number, digits = 1) => Number.isFinite(n) ? n.toFixed(digits) : "—";

function labelOf(input: ReportInput, side: SideName | null): string {
  return side === "baseline" ? input.baselineLabel ?? "baseline" : "";
}

function check(r: RunResult): string {
  const v = r.verify;
  return v.ok
    ? `ok (${v.customers} customers, ${v.bookingsCounted} bookings, 0 off-ledger)`
    : `**off**: ${v.customers}/${v.expectedCustomers} customers, ${v.bookingsCounted}/${v.expectedBookings} bookings, ${v.profilesOffLedger} off-ledger, ${v.duplicates} dup`;
}

function workloadTables(input: ReportInput, results: RunResult[], heading: string): string[] {
  const lines: string[] = [];
  for (const workload of WORKLOADS) {
    const rows = results.filter((r) => r.workload === workload);
    if (rows.length === 0) continue;
    lines.push(`\n## ${heading}${workload}\n`);
    lines.push(
      "| path | c | req/s | p50 ms | p95 ms | p99 ms | max ms | errors | statements/req | round trips/req | peak RSS MiB | data check |",
    );
    lines.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for (const r of rows) {
      lines.push(
        `| ${rowName({ label: labelOf(input, r.side) }, r.path)} | ${r.concurrency} | ${
          f(r.rps, 0)
        } | ${f(r.p50, 2)} | ${f(r.p95, 2)} | ${f(r.p99, 2)} | ${f(r.max, 1)} | ${r.errors} | ${
          f(r.statements, 2)
        } | ${f(r.roundTrips, 2)} | ${r.peakRssMiB === null ? "—" : f(r.peakRssMiB, 0)} | ${
          check(r)
        } |`,
      );
    }
    const get = (p: PathName, c: number, side: SideName = "current") =>
      rows.find((r) => r.path === p && r.concurrency === c && r.side === side);
    const ratio = (a: number | undefined, b: number | undefined) =>
      a === undefined || b === undefined ? "—" : f(a / b, 2);
    lines.push("");
    lines.push(
      "| c | functions / limit (req/s) | functions / seed (req/s) | functions p99 / seed p99 |",
    );
    lines.push("|---:|---:|---:|---:|");
    for (const c of input.concurrency) {
      const fn = get("functions", c);
      lines.push(
        `| ${c} | ${ratio(fn?.rps, get("limit", c)?.rps)} | ${
          ratio(fn?.rps, get("seed", c)?.rps)
        } | ${ratio(fn?.p99, get("seed", c)?.p99)} |`,
      );
    }
    if (input.baselineLabel === null) continue;
    lines.push("");
    lines.push(
      `| path | c | req/s | req/s ${input.baselineLabel} | ratio | p99 ms | p99 ms ${input.baselineLabel} | ratio | round trips/req | round trips/req ${input.baselineLabel} |`,
    );
    lines.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (const path of ["limit", "functions"] as const) {
      for (const c of input.concurrency) {
        const now = get(path, c);
        const then = get(path, c, "baseline");
        if (!now || !then) continue;
        lines.push(
          `| ${path} | ${c} | ${f(now.rps, 0)} | ${f(then.rps, 0)} | ${
            ratio(now.rps, then.rps)
          } | ${f(now.p99, 2)} | ${f(then.p99, 2)} | ${ratio(now.p99, then.p99)} | ${
            f(now.roundTrips, 2)
          } | ${f(then.roundTrips, 2)} |`,
        );
      }
    }
  }
  return lines;
}

function coldTables(input: ReportInput, cold: ColdStartReport): string[] {
  const lines: string[] = [];
  lines.push(
    `\n## cold start: process start to first answer (median of ${input.coldRuns})\n`,
  );
  const hello = cold.starts.find((s) => s.side === null);
  lines.push("| entry | median ms | min ms | over hello world ms |", "|---|---:|---:|---:|");
  for (const s of cold.starts) {
    const label = labelOf(input, s.side);
    lines.push(
      `| ${label ? `${s.name} ${label}` : s.name} | ${f(s.medianMs, 0)} | ${f(s.minMs, 0)} | ${
        s.side === null || !hello ? "—" : f(s.medianMs - hello.medianMs, 0)
      } |`,
    );
  }
  if (cold.probes.length > 0) {
    lines.push(
      "\n## cold start, in process: customers-upsert's handler step by step (ms, medians)\n",
    );
    const heads = cold.probes.map((p) =>
      p.side === "current" ? "working tree" : labelOf(input, p.side)
    );
    lines.push(`| step | ${heads.join(" | ")} |`, `|---|${heads.map(() => "---:").join("|")}|`);
    const steps: Array<[keyof (typeof cold.probes)[number], string]> = [
      ["wall", "process spawn to exit (all of the below, plus exec and exit)"],
      ["boot", "runtime start to first line of JavaScript"],
      ["modules", "load and evaluate the handler's modules"],
      ["first", "first request (email only)"],
      ["warm", "same request once warm (another token)"],
      ["firstPhone", "first request with a phone"],
      ["warmPhone", "request with a phone once warm"],
    ];
    for (const [key, label] of steps) {
      lines.push(`| ${label} | ${cold.probes.map((p) => f(p[key] as number, 1)).join(" | ")} |`);
    }
  }
  if (cold.phases.length > 0) {
    lines.push("\n## cold start, piece by piece: each in a fresh process (ms, medians)\n");
    lines.push("| piece | ms | note |", "|---|---:|---|");
    for (const p of cold.phases) lines.push(`| ${p.phase} | ${f(p.medianMs, 1)} | ${p.note} |`);
  }
  return lines;
}

export function renderReport(input: ReportInput): string {
  const lines: string[] = [
    `PostgreSQL ${input.version}, ${input.cores} cores, scale ${input.scale}, median of ${input.repeat} runs per row` +
    (input.baselineLabel ? `, baseline ${input.baselineLabel} rerun in the same run` : ""),
  ];
  lines.push(...workloadTables(input, input.results, ""));
  if (input.network) {
    lines.push(
      ...workloadTables(input, input.network, "over a network (~2.3 ms round trip to Postgres): "),
    );
  }
  if (input.pgbench !== null) {
    lines.push("\n## pgbench: bare INSERT … ON CONFLICT of one customer row\n");
    if (Object.keys(input.pgbench).length > 0) {
      lines.push("| c | tps | latency avg ms |", "|---:|---:|---:|");
      for (const c of input.concurrency) {
        const r = input.pgbench[c];
        lines.push(`| ${c} | ${r ? f(r.tps, 0) : "—"} | ${r ? f(r.latencyMs, 3) : "—"} |`);
      }
    } else {
      lines.push("pgbench not found on this machine: skipped.");
    }
  }
  if (input.cold) lines.push(...coldTables(input, input.cold));
  return lines.join("\n");
}
