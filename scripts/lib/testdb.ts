// The database of one run of the suites (npm test, npm run soak): a fresh
// migrated database on the test cluster (embedded, or SUPABASE_DB_URL's
// server), dropped afterwards.
import { freshDatabase, runSql } from "./database.ts";
import { ensurePostgres } from "./postgres.ts";

export interface TestDatabase {
  url: string;
  version: string;
  embedded: boolean;
}

export async function withTestDatabase<T>(
  prefix: string,
  command: string,
  fn: (db: TestDatabase) => Promise<T>,
): Promise<T> {
  const cluster = await ensurePostgres({
    name: "test-postgres",
    port: Number(Deno.env.get("TEST_DB_PORT") ?? 54332),
    portVariable: "TEST_DB_PORT",
    command,
  });
  try {
    const { rows } = await runSql(cluster.url, "select current_setting('server_version') as v");
    const version: string = rows[0].v;
    const db = await freshDatabase(cluster.url, `${prefix}_${Deno.pid}`);
    console.log(
      `PostgreSQL ${version} (${cluster.embedded ? "embedded" : "SUPABASE_DB_URL"}), ` +
        `database ${db.name}, migrations applied with supabase db push`,
    );
    try {
      return await fn({ url: db.url, version, embedded: cluster.embedded });
    } finally {
      await db.drop().catch(() => {});
    }
  } finally {
    await cluster.stop();
  }
}
