// The database of one run (npm test, soak, gen:types, bench): a fresh
// migrated database on a cluster (embedded, or SUPABASE_DB_URL's server),
// dropped afterwards, and the cluster stopped.
import { freshDatabase, runSql } from "./database.ts";
import { type ClusterOptions, ensurePostgres } from "./postgres.ts";

export interface RunDatabase {
  /** The fresh database's name and owner URL. */
  name: string;
  url: string;
  /** The cluster's owner URL (its `postgres` database). */
  clusterUrl: string;
  version: string;
  embedded: boolean;
}

/** The suites' cluster: .local/test-postgres on TEST_DB_PORT. */
export function testCluster(command: string): ClusterOptions {
  return {
    name: "test-postgres",
    port: Number(Deno.env.get("TEST_DB_PORT") ?? 54332),
    portVariable: "TEST_DB_PORT",
    command,
  };
}

export async function withFreshDatabase<T>(
  options: { cluster: ClusterOptions; prefix: string; seed?: boolean },
  fn: (db: RunDatabase) => Promise<T>,
): Promise<T> {
  const cluster = await ensurePostgres(options.cluster);
  try {
    const { rows } = await runSql(cluster.url, "select current_setting('server_version') as v");
    const version: string = rows[0].v;
    const db = await freshDatabase(cluster.url, `${options.prefix}_${Deno.pid}`, options);
    console.log(
      `PostgreSQL ${version} (${cluster.embedded ? "embedded" : "SUPABASE_DB_URL"}), ` +
        `database ${db.name}, migrations applied with supabase db push`,
    );
    try {
      return await fn({ ...db, clusterUrl: cluster.url, version, embedded: cluster.embedded });
    } finally {
      await db.drop().catch(() => {});
    }
  } finally {
    await cluster.stop();
  }
}
