// `npm run bench`: a database (SUPABASE_DB_URL's server, else embedded
// PostgreSQL), a migrated template to clone per run, then bench/run.ts.
import { spawnSync } from "node:child_process";
import { freshDatabase } from "./lib/database.ts";
import { main } from "./lib/main.ts";
import { DENO } from "./lib/paths.ts";
import { ensurePostgres } from "./lib/postgres.ts";
import { runStep } from "./lib/run.ts";

await main(async () => {
  const cluster = await ensurePostgres({
    name: "bench-postgres",
    port: Number(Deno.env.get("BENCH_DB_PORT") ?? 54342),
    portVariable: "BENCH_DB_PORT",
    command: "npm run bench",
  });
  try {
    const template = await freshDatabase(cluster.url, `bench_template_${Deno.pid}`, {
      seed: false,
    });
    try {
      const pgbench = spawnSync("sh", ["-c", "command -v pgbench"], { encoding: "utf8" });
      const result = await runStep("bench", DENO, ["run", "-A", "bench/run.ts"], {
        BENCH_ADMIN_URL: cluster.url,
        BENCH_TEMPLATE: template.name,
        PGBENCH: pgbench.stdout.trim(),
      });
      return result.code;
    } finally {
      await template.drop().catch(() => {});
    }
  } finally {
    await cluster.stop();
  }
});
