// The rows of the matrix: one measured run of a path, the separate pass
// that counts statements and round trips per request, and the matrix of
// every workload × concurrency × (side, path), repeated and interleaved.
import { type BenchConfig, requestsFor } from "./config.ts";
import type { Databases } from "./databases.ts";
import type { Driver } from "./driver.ts";
import { median, summarize } from "./measure.ts";
import { openPath } from "./paths.ts";
import { type Proxy, startProxy, throughProxy } from "./proxy.ts";
import { rowName, type Side } from "./sides.ts";
import type { PathName, PerRequest, RunResult } from "./types.ts";
import { transactions, verify } from "./verify.ts";
import { CURRENT_ONLY, makeWorkload, type WorkloadName } from "./workloads.ts";

export interface Subject {
  side: Side;
  /** The side's limit driver; it also runs every setup on the side's schema. */
  driver: Driver;
}

export interface RowContext {
  config: BenchConfig;
  databases: Databases;
  /** A service-role JWT for the HTTP paths. */
  token: string;
}

/** Statements and round trips per request, by side, workload and path. */
export type PerRequestTable = Map<string, PerRequest>;

const key = (side: Side, workload: WorkloadName, path: PathName) =>
  `${side.name}/${workload}/${path}`;

/**
 * Statements and round trips per request, in a separate small pass at
 * concurrency 1 without warm-up, so nothing else is counted. Statements are
 * counted by the server: transactions of the run's database (each statement
 * here is its own), read after the clients disconnected. Round trips are
 * counted on the wire by a pass-through proxy (bench/delay_proxy.ts, no
 * delay), after a first request that opens the connection.
 */
export async function measurePerRequest(
  ctx: RowContext,
  { side, driver }: Subject,
  workload: WorkloadName,
  path: PathName,
): Promise<PerRequest> {
  const db = await ctx.databases.fresh(side.template);
  const w = makeWorkload(workload, db.restaurantId, 61);
  await driver.setup(db.url, w.setup, 4, 1);
  const before = await transactions(db.url);
  const proxy = await startProxy(ctx.config.dbPort, 0);
  const open = await openPath({ ...ctx, driver }, side, path, throughProxy(db.url, proxy));
  const [first, ...rest] = w.requests;
  await open.drive("first request", [first], 1, true);
  await proxy.resetTurns();
  await open.drive("round trips", rest, 1, true);
  const turns = await proxy.stop();
  await open.close();
  const after = await transactions(db.url);
  await ctx.databases.drop(db.name);
  // The `before` read itself is one transaction.
  return { statements: (after - before - 1) / w.requests.length, roundTrips: turns / rest.length };
}

/** One measured row on a fresh database; clients go through `proxy` when one is given. */
export async function runOne(
  ctx: RowContext,
  subject: Subject,
  workload: WorkloadName,
  path: PathName,
  concurrency: number,
  perRequest: PerRequestTable,
  proxy: Proxy | null,
): Promise<RunResult> {
  const { config, databases } = ctx;
  const { side, driver } = subject;
  const db = await databases.fresh(side.template);
  const w = makeWorkload(workload, db.restaurantId, requestsFor(config, concurrency));
  await driver.setup(db.url, w.setup, config.pool, 64);
  const open = await openPath({ ...ctx, driver }, side, path, throughProxy(db.url, proxy));

  // Warm-up on another restaurant: opens every pooled connection (and, for
  // the servers, JIT-compiles the hot path) before the clock starts.
  const warmup = makeWorkload("new", db.warmupId, Math.max(2 * concurrency, 2 * config.pool));
  await open.drive("warm-up", warmup.requests, Math.max(concurrency, config.pool), true);

  const label = `${workload} / ${rowName(side, path)} / c=${concurrency}`;
  const driven = await open.drive(label, w.requests, concurrency);
  // No path is meant to fail a request: say so at once, not only in a column
  // (the seed design once failed every request through several runs unnoticed).
  if (driven.errors > 0) {
    console.error(`warning: ${label}: ${driven.errors} of ${w.requests.length} requests failed`);
  }
  const peakRssMiB = await open.close();
  const verification = await verify(db.url, {
    restaurantId: db.restaurantId,
    customers: w.customers,
    bookings: w.bookings,
    ledger: path !== "seed",
  });
  await databases.drop(db.name);
  const counted = perRequest.get(key(side, workload, path));
  return {
    side: side.name,
    workload,
    path,
    concurrency,
    requests: w.requests.length,
    errors: driven.errors,
    ...summarize(driven),
    statements: counted?.statements ?? NaN,
    roundTrips: counted?.roundTrips ?? NaN,
    peakRssMiB,
    verify: verification,
  };
}

export interface MatrixOptions {
  repeat: number;
  workloads: WorkloadName[];
  /** Count statements and round trips first (into perRequest); else reuse what it holds. */
  measure: boolean;
  perRequest: PerRequestTable;
  proxy: Proxy | null;
}

/**
 * Every workload × concurrency × (side, path), `repeat` times each, runs
 * interleaved so that a side and its baseline share the machine's weather;
 * the median-throughput run per row.
 */
export async function runMatrix(
  ctx: RowContext,
  subjects: Subject[],
  options: MatrixOptions,
): Promise<RunResult[]> {
  // Path first, then side: a path's two sides run back to back.
  const order: PathName[] = ["limit", "functions", "seed"];
  const allTasks = order.flatMap((path) =>
    subjects.filter((s) => s.side.paths.includes(path)).map((subject) => ({ subject, path }))
  );
  const results: RunResult[] = [];
  for (const workload of options.workloads) {
    const tasks = CURRENT_ONLY.includes(workload)
      ? allTasks.filter(({ subject, path }) => subject.side.name === "current" && path !== "seed")
      : allTasks;
    if (options.measure) {
      for (const { subject, path } of tasks) {
        options.perRequest.set(
          key(subject.side, workload, path),
          await measurePerRequest(ctx, subject, workload, path),
        );
      }
    }
    for (const concurrency of ctx.config.concurrency) {
      const runs = tasks.map(() => [] as RunResult[]);
      for (let rep = 0; rep < options.repeat; rep++) {
        for (const [i, { subject, path }] of tasks.entries()) {
          runs[i].push(
            await runOne(
              ctx,
              subject,
              workload,
              path,
              concurrency,
              options.perRequest,
              options.proxy,
            ),
          );
        }
      }
      for (const repeats of runs) results.push(medianRun(repeats));
    }
  }
  return results;
}

/** The median-throughput run; every repetition's data check must pass, not only its own. */
function medianRun(repeats: RunResult[]): RunResult {
  const rps = median(repeats.map((r) => r.rps));
  const chosen = repeats.find((r) => r.rps === rps)!;
  const failed = repeats.find((r) => !r.verify.ok);
  return failed && chosen.verify.ok ? { ...chosen, verify: failed.verify } : chosen;
}
