// pgbench, run one way for every bench that uses it: a script in a temporary
// file, its values as pgbench variables (`-D name=value`) that `-M extended`
// sends as bind parameters, so nothing is spliced into SQL text.
import type { BenchConfig } from "./config.ts";
import type { BenchDatabase, Databases } from "./databases.ts";
import type { PgbenchResult } from "./types.ts";

export interface PgbenchRun {
  clients: number;
  seconds: number;
  /** Variables beside `rid` (the database's restaurant id, always set). */
  variables?: Record<string, string>;
}

/** Run `script` on `db`; throws with pgbench's output if any transaction failed. */
export async function runPgbench(
  pgbenchPath: string,
  db: BenchDatabase,
  script: string,
  run: PgbenchRun,
): Promise<PgbenchResult> {
  const file = await Deno.makeTempFile({ suffix: ".sql" });
  try {
    await Deno.writeTextFile(file, script);
    const variables = { rid: db.restaurantId, ...run.variables };
    const out = await new Deno.Command(pgbenchPath, {
      args: [
        ...["-n", "-M", "extended"],
        ...Object.entries(variables).flatMap(([name, value]) => ["-D", `${name}=${value}`]),
        ...["-f", file, "-c", String(run.clients), "-j", "2", "-T", String(run.seconds)],
        db.url,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    const tps = /tps = ([0-9.]+)/.exec(text);
    const latency = /latency average = ([0-9.]+) ms/.exec(text);
    const failed = /number of failed transactions: (\d+)/.exec(text);
    if (!out.success || !tps || !latency || (failed && Number(failed[1]) > 0)) {
      throw new Error(`pgbench failed:\n${text}${new TextDecoder().decode(out.stderr)}`);
    }
    return { tps: Number(tps[1]), latencyMs: Number(latency[1]) };
  } finally {
    await Deno.remove(file);
  }
}

/**
 * The bench's pgbench row: the bare INSERT … ON CONFLICT of one customer row,
 * what Postgres alone does, on a fresh clone of the working tree's template.
 * Null when pgbench is missing or fails (the row reads n/a).
 */
export async function pgbench(
  config: BenchConfig,
  databases: Databases,
  concurrency: number,
): Promise<PgbenchResult | null> {
  if (!config.pgbench) return null;
  const db = await databases.fresh(config.template);
  try {
    return await runPgbench(
      config.pgbench,
      db,
      `\\set n random(1, 100000000)
insert into public.customers (restaurant_id, email, email_normalized)
values (:rid::uuid, 'g' || :n::text || '@example.com', 'g' || :n::text || '@example.com')
on conflict (restaurant_id, email_normalized) where merged_into is null
  do update set updated_at = now();
`,
      { clients: concurrency, seconds: Math.max(3, 5 * config.scale) },
    );
  } catch (error) {
    console.error(String(error));
    return null;
  } finally {
    await databases.drop(db.name);
  }
}
