// `npm run bench:floor`: how fast can any upsert of this schema be? pgbench
// runs, side by side, the baseline's whole upsert, the working tree's whole
// upsert, and the tree's rows alone (bench/floor_statements.ts): the rows a
// new or returning guest's upsert must leave, each written once in one
// statement, with no rule, lock or answer around them. Where the rows alone
// run no faster than the baseline's whole upsert, no implementation of the
// tree's schema can match the baseline, and the gap belongs to what the
// schema stores, not to how the upsert is written.
//
// Each run is on a fresh clone of its side's template; within a round the
// subjects run one after another, so they share the machine's weather; the
// median of BENCH_REPEAT rounds is reported. Writes bench/results/floor.{md,json}.
//   BENCH_BASELINE    the commit whose upsert is the reference (default bc253a1)
//   BENCH_CONCURRENCY clients, comma-separated (default 16: where the cores are the limit)
//   BENCH_SCALE       seconds per run are 8 × scale (at least 3)
//   BENCH_ONLY        new, returning (default both)
import { main, UserError } from "../scripts/lib/main.ts";
import { type Baseline, prepareBaseline } from "./baseline.ts";
import { readConfig } from "./config.ts";
import { openDatabases } from "./databases.ts";
import {
  FLOOR_WORKLOADS,
  floorStatement,
  type FloorWorkload,
  pgbenchScript,
  RETURNING_GUESTS,
  RETURNING_SETUP,
  upsertStatement,
} from "./floor_statements.ts";
import { upsertParameterNames } from "./instruction_workloads.ts";
import { median } from "./measure.ts";
import { runPgbench } from "./pgbench.ts";
import { withClient } from "./pg.ts";

interface Subject {
  label: string;
  template: string;
  /** The statement timed, for a clone of this subject's template. */
  statement(workload: FloorWorkload, url: string): Promise<string>;
}

interface Run {
  subject: string;
  workload: FloorWorkload;
  concurrency: number;
  tps: number;
}

const upsertOf = (label: string, template: string): Subject => ({
  label,
  template,
  statement: async (workload, url) =>
    upsertStatement(workload, await withClient(url, upsertParameterNames)),
});

function table(header: string[], rows: string[][]): string {
  return [header, header.map((_, i) => (i < 2 ? "---" : "---:")), ...rows]
    .map((cells) => `| ${cells.join(" | ")} |`).join("\n");
}

await main(async () => {
  const env = Deno.env;
  const config = readConfig(env, new URL("../", import.meta.url).pathname);
  if (!config.pgbench) throw new UserError("pgbench is not installed (Debian: postgresql-client)");
  const only = (env.get("BENCH_ONLY") ?? FLOOR_WORKLOADS.join(",")).split(",").filter(Boolean);
  const unknown = only.filter((w) => !(FLOOR_WORKLOADS as readonly string[]).includes(w));
  if (unknown.length) throw new UserError(`BENCH_ONLY: unknown ${unknown.join(", ")}`);
  const workloads = only as FloorWorkload[];
  const concurrency = (env.get("BENCH_CONCURRENCY") ?? "16").split(",").map(Number);
  const seconds = Math.max(3, Math.round(8 * config.scale));

  const databases = await openDatabases(config.adminUrl, `bench_floor_${Deno.pid}`);
  let baseline: Baseline | null = null;
  try {
    if (config.baselineRef) baseline = await prepareBaseline(config, databases, config.baselineRef);
    const subjects: Subject[] = [
      ...(baseline ? [upsertOf(`${baseline.side.label} upsert`, baseline.side.template)] : []),
      upsertOf("tree upsert", config.template),
      {
        label: "tree rows only",
        template: config.template,
        statement: (w) => Promise.resolve(floorStatement(w)),
      },
    ];
    const version = await databases.serverVersion();
    console.log(
      `# upserts against the tree's rows alone (PostgreSQL ${version}, pgbench -M extended, ` +
        `${seconds} s per run, median of ${config.repeat} rounds)\n`,
    );

    const runs: Run[] = [];
    for (const workload of workloads) {
      for (const c of concurrency) {
        for (let round = 0; round < config.repeat; round++) {
          for (const subject of subjects) {
            const db = await databases.fresh(subject.template);
            try {
              if (workload === "returning") {
                await withClient(
                  db.url,
                  (cl) => cl.query(RETURNING_SETUP, [db.restaurantId, RETURNING_GUESTS]),
                );
              }
              const script = pgbenchScript(workload, await subject.statement(workload, db.url));
              // A new guest's number counts from i (bench/floor_statements.ts).
              const { tps } = await runPgbench(config.pgbench, db, script, {
                clients: c,
                seconds,
                variables: { i: "0" },
              });
              runs.push({ subject: subject.label, workload, concurrency: c, tps });
              console.log(`  ${workload} c=${c} ${subject.label}: ${Math.round(tps)} tps`);
            } finally {
              await databases.drop(db.name);
            }
          }
        }
      }
    }

    const header = ["workload", "c", ...subjects.flatMap((s) => [s.label, "ratio"])];
    const rows = workloads.flatMap((workload) =>
      concurrency.map((c) => {
        const of = (label: string) =>
          median(
            runs.filter((r) =>
              r.subject === label && r.workload === workload && r.concurrency === c
            )
              .map((r) => r.tps),
          );
        const first = of(subjects[0].label);
        return [
          workload,
          String(c),
          ...subjects.flatMap((s) => {
            const tps = of(s.label);
            return [Math.round(tps).toLocaleString("en-US"), (tps / first).toFixed(2)];
          }),
        ];
      })
    );
    const report = table(header, rows);
    console.log(`\n${report}\n`);
    const dir = new URL("results/", import.meta.url);
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(new URL("floor.md", dir), `${report}\n`);
    await Deno.writeTextFile(
      new URL("floor.json", dir),
      JSON.stringify({ version, seconds, repeat: config.repeat, runs }, null, 2) + "\n",
    );
    console.log("wrote bench/results/floor.{md,json}");
  } finally {
    await baseline?.remove();
    await databases.end();
  }
});
