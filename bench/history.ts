// `npm run bench:history`: which commit cost what. The limit path of several
// git refs and of the working tree, each from its own tree with its own
// migrations and driver (as a baseline runs in `npm run bench`), on the same
// workloads; the refs run one after another within each round, for
// BENCH_REPEAT rounds, so they share the machine's weather. It prints the
// median throughput of each and its ratio to the first ref, and writes
// bench/results/history.{md,json}.
//   BENCH_REFS        comma-separated refs, oldest first (default below)
//   BENCH_ONLY        workloads (default new,returning; the working tree's own
//                     workloads, retries and lifecycle, have no past)
//   BENCH_CONCURRENCY comma-separated (default 16: where the cores are the limit)
//   BENCH_SCALE, BENCH_REPEAT as for `npm run bench` (2,000 × scale requests per run at c ≥ 16)
import { type Baseline, prepareBaseline, resolveCommit } from "./baseline.ts";
import { readConfig } from "./config.ts";
import { openDatabases } from "./databases.ts";
import { startDriver } from "./driver.ts";
import { median } from "./measure.ts";
import { type RowContext, runOne, type Subject } from "./rows.ts";
import { currentSide } from "./sides.ts";
import type { RunResult } from "./types.ts";
import { CURRENT_ONLY, type WorkloadName } from "./workloads.ts";

/**
 * v0.1 (the baseline), the foundation (node-postgres, typed calls, text
 * rules), the same with its tooling merged just before the lifecycle, and
 * the lifecycle: BENCHMARKS.md's "Which change cost what".
 */
const DEFAULT_REFS = ["bc253a1", "ebe47e8", "c7d6766", "bb6431e"];

const env = Deno.env;
const config = readConfig(env, new URL("../", import.meta.url).pathname);
const refs = (env.get("BENCH_REFS") ?? DEFAULT_REFS.join(",")).split(",").filter(Boolean);
const workloads: WorkloadName[] = env.get("BENCH_ONLY")
  ? config.workloads.filter((w) => !CURRENT_ONLY.includes(w))
  : ["new", "returning"];
if (workloads.length === 0) {
  throw new Error(`BENCH_ONLY: none of these has a past (${CURRENT_ONLY.join(", ")} are new)`);
}
const concurrency = (env.get("BENCH_CONCURRENCY") ?? "16").split(",").map(Number);

const databases = await openDatabases(config.adminUrl, `bench_history_${Deno.pid}`);
const version = await databases.serverVersion();
const baselines: Baseline[] = [];
const subjects: Subject[] = [];
try {
  // Two refs naming one commit would be one tree measured twice under one label.
  const commits = await Promise.all(refs.map((ref) => resolveCommit(config, ref)));
  const twice = commits.find((commit, i) => commits.indexOf(commit) !== i);
  if (twice) throw new Error(`BENCH_REFS names commit ${twice} twice`);
  for (const ref of refs) baselines.push(await prepareBaseline(config, databases, ref));
  const sides = [...baselines.map((b) => b.side), { ...currentSide(config), label: "tree" }];
  for (const side of sides) subjects.push({ side, driver: startDriver(side) });
  console.log(
    `# limit path by commit (PostgreSQL ${version}, ${navigator.hardwareConcurrency} cores, ` +
      `scale ${config.scale}, median of ${config.repeat} rounds): ${
        sides.map((s) => s.label).join(", ")
      }\n`,
  );

  const ctx: RowContext = { config, databases, token: "" };
  const runs = new Map<string, RunResult[]>();
  for (const workload of workloads) {
    for (const c of concurrency) {
      for (let round = 0; round < config.repeat; round++) {
        for (const subject of subjects) {
          const key = `${workload}/${c}/${subject.side.label}`;
          const run = await runOne(ctx, subject, workload, "limit", c, new Map(), null);
          runs.set(key, [...runs.get(key) ?? [], run]);
        }
      }
    }
  }

  const header = ["workload", "c", ...sides.flatMap((s) => [s.label, "ratio"]), "data check"];
  const rows = workloads.flatMap((workload) =>
    concurrency.map((c) => {
      const of = (label: string) => runs.get(`${workload}/${c}/${label}`)!;
      const first = median(of(sides[0].label).map((r) => r.rps));
      const failed = sides.flatMap((s) =>
        of(s.label).some((r) => !r.verify.ok || r.errors > 0) ? [s.label] : []
      );
      return [
        workload,
        String(c),
        ...sides.flatMap((s) => {
          const rps = median(of(s.label).map((r) => r.rps));
          return [rps.toFixed(0), (rps / first).toFixed(2)];
        }),
        failed.length ? `**off**: ${failed.join(", ")}` : "ok",
      ];
    })
  );
  const table = [
    header,
    header.map((_, i) => (i < 1 || i === header.length - 1 ? "---" : "---:")),
    ...rows,
  ]
    .map((cells) => `| ${cells.join(" | ")} |`)
    .join("\n");
  console.log(table);

  const out = (file: string) => `${config.root}bench/results/${file}`;
  await Deno.mkdir(out(""), { recursive: true });
  await Deno.writeTextFile(out("history.md"), table + "\n");
  await Deno.writeTextFile(
    out("history.json"),
    JSON.stringify({ version, scale: config.scale, refs, runs: Object.fromEntries(runs) }, null, 2),
  );
  console.log("\nwrote bench/results/history.{md,json}");
} finally {
  // Each step on its own: one that fails must not leave the others' processes,
  // directories or databases behind.
  const steps = [
    ...subjects.map(({ driver }) => () => driver.stop()),
    ...baselines.map((baseline) => () => baseline.remove()),
    () => databases.end(),
  ];
  for (const step of steps) await step().catch((error) => console.error(error));
}
