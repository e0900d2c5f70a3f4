// Many instances behind one pooler, as hosted edge functions run: several
// functions-server processes, each with its own pool, share one database
// through PgBouncer in transaction mode (Supavisor's stand-in). All of them
// are loaded at once with the same returning guests (the "returning"
// workload, requests dealt round-robin to the instances), then the data
// check runs. Beside it, for reference: one instance direct, one instance
// through the pooler. The pool arithmetic is reported with the peak of
// server connections Postgres saw.
import { findPgBouncer, startPgBouncer } from "../scripts/lib/pgbouncer.ts";
import type { BenchConfig } from "./config.ts";
import type { Databases } from "./databases.ts";
import { drive, summarize, type Summary } from "./measure.ts";
import { withClient } from "./pg.ts";
import { type SpawnedServer, spawnServer } from "./process.ts";
import type { Verification } from "./types.ts";
import { verify } from "./verify.ts";
import { makeWorkload } from "./workloads.ts";

export interface InstancesRow {
  label: string;
  instances: number;
  pooler: boolean;
  /** Pool size of each instance (DB_POOL_MAX). */
  poolPerInstance: number;
  concurrency: number;
  requests: number;
  errors: number;
  summary: Summary;
  /** Peak of backends of the database seen during the run (sampled every 50 ms). */
  peakServerConnections: number;
  verify: Verification;
}

export interface InstancesResult {
  rows: InstancesRow[];
  /** PgBouncer's limits in the pooled rows. */
  poolSize: number;
  maxClientConn: number;
  skipped: string | null;
}

/** PgBouncer: server connections per database/user, client connections in all. */
const POOL_SIZE = 20;
const MAX_CLIENT_CONN = 100;
const INSTANCES = 4;
const POOL_PER_INSTANCE = 8;
const CONCURRENCY_PER_INSTANCE = 16;

async function runRow(
  config: BenchConfig,
  databases: Databases,
  token: string,
  shape: { label: string; instances: number; pooler: boolean },
): Promise<InstancesRow> {
  const db = await databases.fresh(config.template);
  const pooler = shape.pooler
    ? await startPgBouncer({ target: db.url, poolSize: POOL_SIZE, maxClientConn: MAX_CLIENT_CONN })
    : null;
  const servers: SpawnedServer[] = [];
  try {
    for (let i = 0; i < shape.instances; i++) {
      servers.push(
        await spawnServer([`${config.root}scripts/serve.ts`], {
          SUPABASE_DB_URL: pooler?.url ?? db.url,
          SUPABASE_JWT_SECRET: config.jwtSecret,
          SUPABASE_URL: "http://127.0.0.1:9",
          DB_POOL_MAX: String(POOL_PER_INSTANCE),
        }),
      );
    }
    const n = Math.round(4000 * config.scale);
    const workload = makeWorkload("returning", db.restaurantId, n);
    const post = (server: number) => async (body: unknown) => {
      const response = await fetch(`${servers[server].url}/functions/v1/customers-upsert`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      await response.arrayBuffer();
      return response.status === 200;
    };
    // The regulars exist first; then every instance serves a share of the
    // same guests' bookings at once.
    await drive("instances setup", workload.setup, 4, post(0), true);
    const items = workload.requests.map((body, i) => ({ body, server: i % shape.instances }));
    let peak = 0;
    let sampling = true;
    const sampler = withClient(config.adminUrl, async (c) => {
      while (sampling) {
        const { rows } = await c.query<{ n: number }>(
          `select count(*)::int as n from pg_stat_activity
           where datname = $1 and backend_type = 'client backend'`,
          [db.name],
        );
        peak = Math.max(peak, rows[0].n);
        await new Promise((r) => setTimeout(r, 50));
      }
    });
    const concurrency = CONCURRENCY_PER_INSTANCE * shape.instances;
    let run;
    try {
      run = await drive(
        `${shape.label} / c=${concurrency}`,
        items,
        concurrency,
        (item) => post(item.server)(item.body),
      );
    } finally {
      sampling = false;
      await sampler;
    }
    for (const server of servers.splice(0)) await server.stop();
    return {
      ...shape,
      poolPerInstance: POOL_PER_INSTANCE,
      concurrency,
      requests: items.length,
      errors: run.errors,
      summary: summarize(run),
      peakServerConnections: peak,
      verify: await verify(db.url, {
        restaurantId: db.restaurantId,
        customers: workload.customers,
        bookings: workload.bookings,
        ledger: true,
      }),
    };
  } finally {
    for (const server of servers) await server.stop();
    await pooler?.stop();
    await databases.drop(db.name);
  }
}

export async function instances(
  config: BenchConfig,
  databases: Databases,
  token: string,
): Promise<InstancesResult> {
  const result = {
    rows: [] as InstancesRow[],
    poolSize: POOL_SIZE,
    maxClientConn: MAX_CLIENT_CONN,
  };
  if (!findPgBouncer()) {
    return { ...result, skipped: "pgbouncer is not installed (apt-get install pgbouncer)" };
  }
  for (
    const shape of [
      { label: "1 instance, direct", instances: 1, pooler: false },
      { label: "1 instance, PgBouncer", instances: 1, pooler: true },
      { label: `${INSTANCES} instances, PgBouncer`, instances: INSTANCES, pooler: true },
    ]
  ) result.rows.push(await runRow(config, databases, token, shape));
  return { ...result, skipped: null };
}

export function instancesTables(r: InstancesResult): string[] {
  const lines = ["\n## Many instances through one pooler (returning guests, shared by all)\n"];
  if (r.skipped) return [...lines, `Skipped: ${r.skipped}.`];
  lines.push(
    `PgBouncer in transaction mode: default_pool_size ${r.poolSize} (server connections), ` +
      `max_client_conn ${r.maxClientConn}; each instance DB_POOL_MAX ${POOL_PER_INSTANCE}, ` +
      `${CONCURRENCY_PER_INSTANCE} concurrent requests per instance.\n`,
    "| row | c | requests | errors | req/s | p50 ms | p99 ms | client conns (instances × pool) | peak server conns | data check |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
  );
  for (const row of r.rows) {
    const s = row.summary;
    const clients = row.instances * row.poolPerInstance;
    const limit = row.pooler ? ` ≤ ${r.maxClientConn}` : "";
    const v = row.verify;
    lines.push(
      `| ${row.label} | ${row.concurrency} | ${row.requests} | ${row.errors} | ${
        s.rps.toFixed(0)
      } | ${s.p50.toFixed(2)} | ${
        s.p99.toFixed(2)
      } | ${row.instances} × ${row.poolPerInstance} = ${clients}${limit} | ${row.peakServerConnections}${
        row.pooler ? ` ≤ ${r.poolSize}` : ""
      } | ${
        v.ok ? "ok" : "FAILED"
      } (${v.customers}/${v.expectedCustomers} guests, ${v.bookingsCounted}/${v.expectedBookings} bookings, ${v.duplicates} duplicates, ${v.profilesOffLedger} off their recount) |`,
    );
  }
  return lines;
}
