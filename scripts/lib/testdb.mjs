// A fresh, migrated database for one run (tests, soak), on the embedded
// cluster or on SUPABASE_DB_URL's server; dropped afterwards.
import { spawn } from "node:child_process";
import { prepareDatabase } from "./migrate.mjs";
import { ensurePostgres, ROOT, runSql, withDatabase } from "./postgres.mjs";

/**
 * @param {string} prefix database name prefix
 * @param {(db: { url: string, version: string, embedded: boolean }) => Promise<T>} fn
 * @returns {Promise<T>}
 * @template T
 */
export async function withFreshDatabase(prefix, fn) {
  const cluster = await ensurePostgres({
    name: "test-postgres",
    port: Number(process.env.TEST_DB_PORT ?? 54332),
  });
  const database = `${prefix}_${process.pid}`;
  try {
    const { rows } = await runSql(
      cluster.url,
      "select current_setting('server_version') as version",
    );
    await runSql(cluster.url, `drop database if exists ${database}`);
    await runSql(cluster.url, `create database ${database}`);
    const url = withDatabase(cluster.url, database);
    console.log(
      `PostgreSQL ${rows[0].version} (${
        cluster.embedded ? "embedded" : "SUPABASE_DB_URL"
      }), database ${database}`,
    );
    await prepareDatabase(url);
    console.log("migrations applied with supabase db push");
    return await fn({ url, version: rows[0].version, embedded: cluster.embedded });
  } finally {
    await runSql(cluster.url, `drop database if exists ${database} with (force)`).catch(() => {});
    await cluster.stop();
  }
}

/** Run a command, echoing its stdout; resolves with its exit code and output. */
export function run(label, command, args, env = {}) {
  return new Promise((resolve) => {
    process.stdout.write(`\n== ${label}\n`);
    const child = spawn(command, args, {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      process.stdout.write(chunk);
    });
    child.on("exit", (code) => resolve({ code: code ?? 1, out }));
  });
}
