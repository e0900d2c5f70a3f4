// `npm run bench`: the three paths side by side on the same workloads.
//   limit       private.customers_upsert through the side's own driver (no HTTP)
//   functions   the side's real functions server over HTTP, with a verified JWT
//   seed        the design note's sequential approach behind the same HTTP
// A baseline git ref (BENCH_BASELINE, default the commit of BENCHMARKS.md's
// figures) reruns its limit and functions paths beside the working tree's,
// interleaved, so a regression shows in one run on one machine. Every run
// starts from a fresh clone of its side's migrated template database. The
// figures are printed and written to bench/results/latest.{json,md} and
// bench/latency*.svg; nothing here fails on speed.
import { prepareBaseline } from "./baseline.ts";
import { renderChart } from "./chart.ts";
import { coldStarts } from "./cold_start.ts";
import { readConfig } from "./config.ts";
import { openDatabases } from "./databases.ts";
import { startDriver } from "./driver.ts";
import { instances, instancesTables, renderInstancesChart } from "./instances.ts";
import { pgbench } from "./pgbench.ts";
import { signHs256 } from "./process.ts";
import { startProxy } from "./proxy.ts";
import { renderReport } from "./report.ts";
import { type PerRequestTable, type RowContext, runMatrix, type Subject } from "./rows.ts";
import { rights, rightsTables } from "./rights.ts";
import { merges, mergeTables } from "./merge.ts";
import { currentSide } from "./sides.ts";
import type { PgbenchResult, RunResult } from "./types.ts";

const config = readConfig(Deno.env, new URL("../", import.meta.url).pathname);
const databases = await openDatabases(config.adminUrl, `bench_run_${Deno.pid}`);
const version = await databases.serverVersion();
console.log(
  `# customers module benchmark (PostgreSQL ${version}, ${navigator.hardwareConcurrency} cores, ` +
    `scale ${config.scale}, median of ${config.repeat} runs)\n`,
);

const baseline = config.baselineRef
  ? await prepareBaseline(config, databases, config.baselineRef)
  : null;
if (baseline) {
  console.log(`baseline ${config.baselineRef} (${baseline.side.label}) in ${baseline.side.root}\n`);
}
const sides = [currentSide(config), ...(baseline ? [baseline.side] : [])];
const subjects: Subject[] = sides.map((side) => ({ side, driver: startDriver(side) }));

try {
  const token = await signHs256(
    { role: "service_role", iss: "supabase", exp: 4102444800 },
    config.jwtSecret,
  );
  const ctx: RowContext = { config, databases, token };
  const perRequest: PerRequestTable = new Map();
  const { sections } = config;

  const results = sections.has("loopback")
    ? await runMatrix(ctx, subjects, {
      repeat: config.repeat,
      workloads: config.workloads,
      measure: true,
      perRequest,
      proxy: null,
    })
    : [];
  // The same matrix with a network between the clients and Postgres, where
  // round trips cost what they cost in production (setup and checks stay direct).
  let network: RunResult[] | null = null;
  if (sections.has("network") && config.delayMs > 0) {
    const proxy = await startProxy(config.dbPort, config.delayMs);
    try {
      network = await runMatrix(ctx, subjects, {
        repeat: 1,
        workloads: config.workloads,
        measure: perRequest.size === 0,
        perRequest,
        proxy,
      });
    } finally {
      await proxy.stop();
    }
  }
  let pgbenchResults: Record<number, PgbenchResult | null> | null = null;
  if (sections.has("pgbench")) {
    pgbenchResults = {};
    if (config.pgbench) {
      for (const c of config.concurrency) pgbenchResults[c] = await pgbench(config, databases, c);
    }
  }
  const cold = sections.has("cold") ? await coldStarts({ config, databases }, sides) : null;
  const guestRights = sections.has("rights") ? await rights(config, databases, token) : null;
  const merging = sections.has("merge") ? await merges(config, databases) : null;
  const manyInstances = sections.has("instances")
    ? await instances(config, databases, token)
    : null;

  const report = renderReport({
    version,
    cores: navigator.hardwareConcurrency,
    scale: config.scale,
    repeat: config.repeat,
    coldRuns: config.coldRuns,
    concurrency: config.concurrency,
    baselineLabel: baseline?.side.label ?? null,
    results,
    network,
    pgbench: pgbenchResults,
    cold,
  }) + (guestRights ? "\n" + rightsTables(guestRights).join("\n") : "") +
    (merging ? "\n" + mergeTables(merging).join("\n") : "") +
    (manyInstances ? "\n" + instancesTables(manyInstances).join("\n") : "");
  console.log(report);

  const out = (file: string) => `${config.root}bench/${file}`;
  await Deno.mkdir(out("results"), { recursive: true });
  await Deno.writeTextFile(
    out("results/latest.json"),
    JSON.stringify(
      {
        version,
        scale: config.scale,
        baseline: baseline ? { ref: config.baselineRef, commit: baseline.side.label } : null,
        results,
        network,
        pgbench: pgbenchResults,
        cold,
        rights: guestRights,
        merge: merging,
        instances: manyInstances,
      },
      null,
      2,
    ),
  );
  await Deno.writeTextFile(out("results/latest.md"), report + "\n");
  // The charts show the working tree; the baseline is in the tables.
  const current = (rows: RunResult[]) => rows.filter((r) => r.side === "current");
  const written = ["bench/results/latest.{json,md}"];
  if (results.length > 0) {
    await Deno.writeTextFile(out("latency.svg"), renderChart(current(results)));
    written.push("bench/latency.svg");
  }
  if (network) {
    await Deno.writeTextFile(out("latency-network.svg"), renderChart(current(network)));
    written.push("bench/latency-network.svg");
  }
  if (manyInstances && manyInstances.rows.length > 0) {
    await Deno.writeTextFile(out("instances.svg"), renderInstancesChart(manyInstances));
    written.push("bench/instances.svg");
  }
  console.log(`\nwrote ${written.join(" and ")}`);
} finally {
  for (const { driver } of subjects) await driver.stop();
  await baseline?.remove();
  await databases.end();
}
