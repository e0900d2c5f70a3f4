// Databases on a cluster: SQL text in, a fresh migrated database per run
// (tests, soak, type generation, the fault suite), dropped afterwards.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { ROOT, SUPABASE } from "./paths.ts";

/** Run SQL text (several statements allowed, no parameters) against a database URL. */
export async function runSql(url: string, text: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

/** The same URL pointing at another database of the cluster. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** The Supabase CLI against a database URL (`--remote=<url>`, CLI 3.1's flag for it). */
export function supabaseCli(args: string[], url: string) {
  return spawnSync(SUPABASE, [...args, `--remote=${url}`], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...Deno.env.toObject(), PGSSLMODE: "disable" },
  });
}

/** Bootstrap (what Supabase provides, only where missing), migrations (Supabase CLI), seed. */
export async function prepareDatabase(url: string, { seed = true } = {}): Promise<void> {
  await runSql(url, readFileSync(path.join(ROOT, "supabase/local/bootstrap.sql"), "utf8"));
  const push = supabaseCli(["db", "push", "--yes"], url);
  if (push.status !== 0) {
    throw new Error(`supabase db push failed:\n${push.stdout}${push.stderr}`);
  }
  if (seed) await runSql(url, readFileSync(path.join(ROOT, "supabase/seed.sql"), "utf8"));
}

export interface FreshDatabase {
  name: string;
  url: string;
  /** Drop it (connections are cut). */
  drop(): Promise<void>;
}

/** Create database `name` on the cluster at `clusterUrl` (replacing one of that name) and migrate it. */
export async function freshDatabase(
  clusterUrl: string,
  name: string,
  options: { seed?: boolean } = {},
): Promise<FreshDatabase> {
  await runSql(clusterUrl, `drop database if exists ${name} with (force)`);
  await runSql(clusterUrl, `create database ${name}`);
  const url = withDatabase(clusterUrl, name);
  const drop = () =>
    runSql(clusterUrl, `drop database if exists ${name} with (force)`).then(() => {});
  try {
    await prepareDatabase(url, options);
  } catch (error) {
    await drop().catch(() => {});
    throw error;
  }
  return { name, url, drop };
}
