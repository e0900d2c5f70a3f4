// `npm run bench:instructions`: the database's instructions per upsert, the
// working tree against the baseline commit, counted by callgrind in a
// single-user backend (see callgrind.ts). Where `npm run bench` measures
// throughput that moves by ±20 % from run to run on a shared machine, this
// count repeats to a part in a thousand: it tells whether a change to
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
import { main, UserError } from "../scripts/lib/main.ts";
import { ensurePostgres } from "../scripts/lib/postgres.ts";
import { type Baseline, migrate, prepareBaseline } from "./baseline.ts";
import { countInstructions, hasValgrind } from "./callgrind.ts";
import { readConfig } from "./config.ts";
import { openDatabases } from "./databases.ts";
import {
  calls,
  INSTRUCTION_WORKLOADS,
  type InstructionWorkload,
  prepare,
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

await main(async () => {
  if (!(await hasValgrind())) {
    throw new UserError("valgrind is not installed (Debian: apt-get install valgrind)");
  }
  const workloads = workloadsFrom(Deno.env.get("BENCH_ONLY"));
  const root = new URL("../", import.meta.url).pathname;
  const port = Number(Deno.env.get("BENCH_INSTRUCTIONS_PORT") ?? 54362);
  const build = Deno.env.get("BENCH_PG_BUILD") || undefined;
  const cluster = await ensurePostgres({
    // A data directory per build: one major cannot start on another's data.
    name: build
      ? `bench-instructions${build.replace(/[^A-Za-z0-9]+/g, "-")}`
      : "bench-instructions",
    build,
    port,
    portVariable: "BENCH_INSTRUCTIONS_PORT",
    command: "npm run bench:instructions",
    own: true,
  });
  const config = readConfig(
    { get: (name) => (name === "BENCH_ADMIN_URL" ? cluster.url : Deno.env.get(name)) },
    root,
  );
  const databases = await openDatabases(cluster.url, `bench_instr_${Deno.pid}`);
  const treeTemplate = `bench_instr_tree_${Deno.pid}`;
  let baseline: Baseline | null = null;
  const clones: Clone[] = [];
  try {
    const version = await databases.serverVersion();
    const treeUrl = await databases.create(treeTemplate);
    await migrate(root, root, treeUrl);
    const patch = Deno.env.get("BENCH_TREE_PATCH");
    if (patch) {
      const text = await Deno.readTextFile(patch);
      await withClient(treeUrl, (client) => client.query(text));
    }
    const subjects: Subject[] = [];
    if (config.baselineRef) {
      baseline = await prepareBaseline(config, databases, config.baselineRef);
      subjects.push({ label: baseline.side.label.slice(1), template: baseline.side.template });
    }
    subjects.push({ label: patch ? "patched tree" : "tree", template: treeTemplate });

    for (const workload of workloads) {
      for (const subject of subjects) {
        for (const timed of [SHORT, LONG]) {
          const db = await databases.fresh(subject.template);
          const lines = await withClient(db.url, async (client) => {
            await prepare(client, db.restaurantId, workload);
            return calls(client, db.restaurantId, workload, WARMUP + timed);
          });
          clones.push({ subject, workload, calls: timed, name: db.name, lines });
        }
      }
    }

    // valgrind runs the server itself, on the data directory: the cluster steps aside.
    await cluster.stop();
    try {
      for (const clone of clones) {
        clone.total = await countInstructions(build, cluster.dataDir!, clone.name, clone.lines);
        console.log(
          `${clone.workload} ${clone.subject.label} ${WARMUP}+${clone.calls} calls: ${clone.total}`,
        );
      }
    } finally {
      await cluster.start();
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
    const steps = [
      ...clones.map((clone) => () => databases.drop(clone.name)),
      () => baseline?.remove() ?? Promise.resolve(),
      () => databases.drop(treeTemplate),
      () => databases.end(),
      () => cluster.stop(),
    ];
    for (const step of steps) await step().catch((error) => console.error(error));
  }
});
