// `npm run bench`: a database (SUPABASE_DB_URL's server, else embedded
// PostgreSQL), a migrated template to clone per run, then bench/run.ts (or
// the bench script given, e.g. bench/history.ts for `npm run bench:history`).
import { spawnSync } from "node:child_process";
import { main } from "./lib/main.ts";
import { DENO } from "./lib/paths.ts";
import { runStep } from "./lib/run.ts";
import { withFreshDatabase } from "./lib/testdb.ts";

const cluster = {
  name: "bench-postgres",
  port: Number(Deno.env.get("BENCH_DB_PORT") ?? 54342),
  portVariable: "BENCH_DB_PORT",
  command: "npm run bench",
};

await main(() =>
  withFreshDatabase({ cluster, prefix: "bench_template", seed: false }, async (template) => {
    const pgbench = spawnSync("sh", ["-c", "command -v pgbench"], { encoding: "utf8" });
    const script = Deno.args[0] ?? "bench/run.ts";
    const result = await runStep("bench", DENO, ["run", "-A", script], {
      BENCH_ADMIN_URL: template.clusterUrl,
      BENCH_TEMPLATE: template.name,
      PGBENCH: pgbench.stdout.trim(),
    });
    return result.code;
  })
);
