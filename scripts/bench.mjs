// `npm run bench`: a database (SUPABASE_DB_URL's server, else embedded
// PostgreSQL), a migrated template to clone per run, then bench/run.ts.
import { spawn, spawnSync } from "node:child_process";
import path from "node:path";
import { BIN, prepareDatabase } from "./lib/migrate.mjs";
import { ensurePostgres, ROOT, runSql, withDatabase } from "./lib/postgres.mjs";

const cluster = await ensurePostgres({
  name: "bench-postgres",
  port: Number(process.env.BENCH_DB_PORT ?? 54342),
});
const template = `bench_template_${process.pid}`;
let code = 1;
try {
  await runSql(cluster.url, `create database ${template}`);
  await prepareDatabase(withDatabase(cluster.url, template), { withSeed: false });
  const pgbench = spawnSync("sh", ["-c", "command -v pgbench"], { encoding: "utf8" }).stdout.trim();
  code = await new Promise((resolve) => {
    const child = spawn(path.join(BIN, "deno"), ["run", "-A", "bench/run.ts"], {
      cwd: ROOT,
      stdio: "inherit",
      env: {
        ...process.env,
        BENCH_ADMIN_URL: cluster.url,
        BENCH_TEMPLATE: template,
        PGBENCH: pgbench,
      },
    });
    child.on("exit", (c) => resolve(c ?? 1));
  });
} finally {
  await runSql(cluster.url, `drop database if exists ${template} with (force)`).catch(() => {});
  await cluster.stop();
}
process.exit(code);
