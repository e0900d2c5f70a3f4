// pgbench: the bare INSERT … ON CONFLICT of one customer row, what Postgres
// alone does, on a fresh clone of the working tree's template.
import type { BenchConfig } from "./config.ts";
import type { Databases } from "./databases.ts";
import type { PgbenchResult } from "./types.ts";

export async function pgbench(
  config: BenchConfig,
  databases: Databases,
  concurrency: number,
): Promise<PgbenchResult | null> {
  if (!config.pgbench) return null;
  const db = await databases.fresh(config.template);
  const script = await Deno.makeTempFile({ suffix: ".sql" });
  // The restaurant id is a uuid the database just generated.
  await Deno.writeTextFile(
    script,
    `\\set n random(1, 100000000)
insert into public.customers (restaurant_id, email, email_normalized)
values ('${db.restaurantId}', 'g' || :n || '@example.com', 'g' || :n || '@example.com')
on conflict (restaurant_id, email_normalized) where merged_into is null
  do update set updated_at = now();
`,
  );
  const out = await new Deno.Command(config.pgbench, {
    args: [
      "-n",
      ...["-f", script],
      ...["-c", String(concurrency)],
      ...["-j", "2"],
      ...["-T", String(Math.max(3, 5 * config.scale))],
      db.url,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(script);
  await databases.drop(db.name);
  const text = new TextDecoder().decode(out.stdout);
  const tps = /tps = ([0-9.]+)/.exec(text);
  const latency = /latency average = ([0-9.]+) ms/.exec(text);
  return tps && latency ? { tps: Number(tps[1]), latencyMs: Number(latency[1]) } : null;
}
