// `npm run bench:instructions`: the database's instructions per upsert, the
// working tree against the baseline commit, counted by callgrind in a
// single-user backend (see callgrind.ts). Where `npm run bench` measures
// throughput that moves by ±20 % from run to run on a shared machine, this
// count repeats to a few parts in a thousand: it tells whether a change to
// the SQL made a call cheaper, and by how much, before any timing can.
//
// Each side's template is built from its own migrations on an embedded
// PostgreSQL cluster of this tool's own (valgrind needs the server's data
// directory to itself). Per workload and side, two fresh clones each run
// WARMUP calls, then SHORT or LONG more; (long − short) / (LONG − SHORT) is
// the cost of one call, free of start-up and warm-up. Writes
// bench/results/instructions.{md,json}.
//   BENCH_BASELINE   the commit to compare with (default bc253a1; none: the tree alone)
//   BENCH_ONLY       workloads, comma-separated (default: all four)
//   BENCH_PG_BUILD   another PostgreSQL build to count on, a folder with bin/
//                    (e.g. /usr/lib/postgresql/15); default: the embedded one
//   BENCH_INSTRUCTIONS_PORT   the cluster's port (default 54362)
//   BENCH_TREE_PATCH a SQL file run on the working tree's template after its
//                    migrations: what a change would save, priced before it
//                    is written as a migration
//   BENCH_CALLGRIND_DIR  keep each run's callgrind profile there, named
//                    <workload>-<side>-<calls>.callgrind: the difference of a
//                    side's two runs per function is where one call's
//                    instructions go (callgrind_annotate each, then subtract)
import { existsSync } from "node:fs";
import path from "node:path";
import { main, UserError } from "../scripts/lib/main.ts";
import { ensurePostgres } from "../scripts/lib/postgres.ts";
import { type Baseline, migrate, prepareBaseline } from "./baseline.ts";
import { countInstructions, hasValgrind } from "./callgrind.ts";
import { baselineRef } from "./config.ts";
import { type Databases, openDatabases } from "./databases.ts";
import {
  calls,
  INSTRUCTION_WORKLOADS,
  type InstructionWorkload,
  prepare,
  tryCall,
} from "./instruction_workloads.ts";
import { withClient } from "./pg.ts";

const WARMUP = 100;
const SHORT = 50;
const LONG = 250;

interface Subject {
  label: string;
  template: string;
}

interface Clone {
  subject: Subject;
  workload: InstructionWorkload;
  /** Timed calls, after WARMUP. */
  calls: number;
  name: string;
  /** The script: WARMUP + calls statements. */
  lines: string[];
  /** Instructions the backend executed, once counted. */
  total?: number;
}

/** Per workload, per subject's label: instructions per call. */
type Figures = Record<string, Record<string, number>>;

function workloadsFrom(value: string | undefined): InstructionWorkload[] {
  if (!value) return [...INSTRUCTION_WORKLOADS];
  const names = value.split(",").filter(Boolean);
  const unknown = names.filter((n) => !(INSTRUCTION_WORKLOADS as readonly string[]).includes(n));
  if (unknown.length) {
    throw new UserError(
      `BENCH_ONLY: unknown ${unknown.join(", ")} (known: ${INSTRUCTION_WORKLOADS.join(", ")})`,
    );
  }
  return names as InstructionWorkload[];
}

function table(header: string[], rows: string[][]): string {
  return [header, header.map((_, i) => (i === 0 ? "---" : "---:")), ...rows]
    .map((cells) => `| ${cells.join(" | ")} |`)
    .join("\n");
}

/** (long run − short run) / (LONG − SHORT): one call, free of start-up and warm-up. */
function perCall(clones: Clone[]): Figures {
  const figures: Figures = {};
  for (const long of clones.filter((c) => c.calls === LONG)) {
    const short = clones.find((c) =>
      c.calls === SHORT && c.subject === long.subject && c.workload === long.workload
    )!;
    (figures[long.workload] ??= {})[long.subject.label] = (long.total! - short.total!) /
      (LONG - SHORT);
  }
  return figures;
}

/** The table: a column per subject, and the last one's ratio to the first. */
function report(labels: string[], figures: Figures): string {
  const [first, last] = [labels[0], labels[labels.length - 1]];
  const header = ["workload", ...labels, ...(first !== last ? [`${last} / ${first}`] : [])];
  const rows = Object.entries(figures).map(([workload, of]) => [
    workload,
    ...labels.map((label) => millions(of[label])),
    ...(first !== last ? [(of[last] / of[first]).toFixed(2)] : []),
  ]);
  return table(header, rows);
}

const millions = (n: number) => `${(n / 1e6).toFixed(3)}M`;

interface Options {
  workloads: InstructionWorkload[];
  baseline: string | null;
  /** Another build's folder (absolute), or undefined for the embedded one. */
  build?: string;
  port: number;
  /** The text of BENCH_TREE_PATCH, or null. */
  patch: string | null;
  /** BENCH_CALLGRIND_DIR (absolute), or undefined: profiles are deleted. */
  keepDir?: string;
}

/** The environment, checked before anything starts: a mistake is one sentence. */
async function readOptions(env: Deno.Env): Promise<Options> {
  if (!(await hasValgrind())) {
    throw new UserError("valgrind is not installed (Debian: apt-get install valgrind)");
  }
  const buildDir = env.get("BENCH_PG_BUILD");
  const build = buildDir ? path.resolve(buildDir) : undefined;
  if (build && !existsSync(path.join(build, "bin", "postgres"))) {
    throw new UserError(`BENCH_PG_BUILD: no bin/postgres in ${build}`);
  }
  const patchFile = env.get("BENCH_TREE_PATCH");
  if (patchFile && !existsSync(patchFile)) {
    throw new UserError(`BENCH_TREE_PATCH: no such file ${patchFile}`);
  }
  const keepDir = env.get("BENCH_CALLGRIND_DIR");
  if (keepDir) await Deno.mkdir(keepDir, { recursive: true });
  return {
    keepDir: keepDir ? path.resolve(keepDir) : undefined,
    workloads: workloadsFrom(env.get("BENCH_ONLY")),
    baseline: baselineRef(env),
    build,
    port: Number(env.get("BENCH_INSTRUCTIONS_PORT") ?? 54362),
    patch: patchFile ? await Deno.readTextFile(patchFile) : null,
  };
}

/** Databases a killed run left on this cluster (only this tool uses it). */
async function dropLeftovers(url: string, databases: Databases): Promise<void> {
  const { rows } = await withClient(url, (c) =>
    c.query<{ name: string }>(
      `select datname as name from pg_catalog.pg_database
       where datname like 'bench\\_instr\\_%' or datname like 'bench\\_baseline\\_%'`,
    ));
  for (const { name } of rows) await databases.drop(name);
}

await main(async () => {
  const options = await readOptions(Deno.env);
  const root = new URL("../", import.meta.url).pathname;
  const cluster = await ensurePostgres({
    // A data directory per build: one major cannot start on another's data.
    name: options.build
      ? `bench-instructions${options.build.replace(/[^A-Za-z0-9]+/g, "-")}`
      : "bench-instructions",
    build: options.build,
    port: options.port,
    portVariable: "BENCH_INSTRUCTIONS_PORT",
    command: "npm run bench:instructions",
    own: true,
    // No statistics but the template's: autovacuum would analyze a clone or
    // not, by the time it came by, and the plans would follow.
    settings: ["autovacuum=off"],
  });
  const treeTemplate = `bench_instr_tree_${Deno.pid}`;
  let databases: Databases | null = null;
  let baseline: Baseline | null = null;
  let treeCreated = false;
  const clones: Clone[] = [];
  try {
    const db = databases = await openDatabases(cluster.url, `bench_instr_${Deno.pid}`);
    await dropLeftovers(cluster.url, db);
    const version = await db.serverVersion();
    const treeUrl = await db.create(treeTemplate);
    treeCreated = true;
    await migrate(root, root, treeUrl);
    if (options.patch !== null) {
      const patch = options.patch;
      await withClient(treeUrl, (client) => client.query(patch));
    }
    const subjects: Subject[] = [];
    if (options.baseline) {
      baseline = await prepareBaseline({ root }, db, options.baseline);
      subjects.push({ label: baseline.side.label.slice(1), template: baseline.side.template });
    }
    subjects.push({
      label: options.patch !== null ? "patched tree" : "tree",
      template: treeTemplate,
    });

    for (const workload of options.workloads) {
      for (const subject of subjects) {
        for (const timed of [SHORT, LONG]) {
          const fresh = await db.fresh(subject.template);
          const clone: Clone = { subject, workload, calls: timed, name: fresh.name, lines: [] };
          clones.push(clone);
          clone.lines = await withClient(fresh.url, async (client) => {
            await prepare(client, fresh.restaurantId, workload);
            const lines = await calls(client, fresh.restaurantId, workload, WARMUP + timed);
            await tryCall(client, lines[0]);
            return lines;
          });
        }
      }
    }

    // valgrind runs the server itself, on the data directory: the cluster steps aside.
    await db.end();
    await cluster.stop();
    try {
      for (const clone of clones) {
        clone.total = await countInstructions(
          options.build,
          cluster.dataDir!,
          clone.name,
          clone.lines,
          options.keepDir &&
            path.join(
              options.keepDir,
              `${clone.workload}-${
                clone.subject.label.replaceAll(" ", "-")
              }-${WARMUP}+${clone.calls}.callgrind`,
            ),
        );
        console.log(
          `${clone.workload} ${clone.subject.label} ${WARMUP}+${clone.calls} calls: ${clone.total}`,
        );
      }
    } finally {
      // Logged here: thrown, it would replace the error that got us here.
      await cluster.start().catch((error) =>
        console.error("could not restart the cluster:", error)
      );
    }

    const figures = perCall(clones);
    const text = `_Instructions per upsert (callgrind, single-user PostgreSQL ${version}, ` +
      `synchronous_commit off; (${LONG} − ${SHORT}) calls after ${WARMUP})_\n\n` +
      report(subjects.map((s) => s.label), figures) + "\n";
    console.log(`\n${text}`);
    const out = (file: string) => `${root}bench/results/${file}`;
    await Deno.mkdir(out(""), { recursive: true });
    await Deno.writeTextFile(out("instructions.md"), text);
    await Deno.writeTextFile(
      out("instructions.json"),
      JSON.stringify({ version, warmup: WARMUP, short: SHORT, long: LONG, figures }, null, 2),
    );
    console.log("wrote bench/results/instructions.{md,json}");
  } finally {
    // Each step on its own: one that fails must not leave the others' databases behind.
    const db = databases;
    const steps = [
      ...clones.map((clone) => () => db!.drop(clone.name)),
      () => baseline?.remove() ?? Promise.resolve(),
      () => (treeCreated ? db!.drop(treeTemplate) : Promise.resolve()),
      () => db?.end() ?? Promise.resolve(),
      () => cluster.stop(),
    ];
    for (const step of steps) await step().catch((error) => console.error(error));
  }
});
