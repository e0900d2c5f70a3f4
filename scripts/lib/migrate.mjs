// Schema setup: the local bootstrap (what Supabase provides, only where
// missing), then the migrations through the real Supabase CLI, then the seed.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { ROOT, runSql } from "./postgres.mjs";

export const BIN = path.join(ROOT, "node_modules", ".bin");

export async function bootstrap(url) {
  await runSql(url, readFileSync(path.join(ROOT, "supabase/local/bootstrap.sql"), "utf8"));
}

export function pushMigrations(url) {
  const result = spawnSync(
    path.join(BIN, "supabase"),
    ["db", "push", "--db-url", url, "--yes"],
    { cwd: ROOT, encoding: "utf8", env: { ...process.env, PGSSLMODE: "disable" } },
  );
  if (result.status !== 0) {
    process.stderr.write(result.stdout + result.stderr);
    throw new Error("supabase db push failed");
  }
  return result.stdout + result.stderr;
}

export async function seed(url) {
  await runSql(url, readFileSync(path.join(ROOT, "supabase/seed.sql"), "utf8"));
}

/** Bootstrap, migrations and (optionally) seed: a database ready to serve. */
export async function prepareDatabase(url, { withSeed = true } = {}) {
  await bootstrap(url);
  pushMigrations(url);
  if (withSeed) await seed(url);
}
