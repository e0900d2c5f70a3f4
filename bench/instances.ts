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

/** bench/instances.svg: throughput (bars) and p50/p99 (marks) of each row. */
export function renderInstancesChart(r: InstancesResult): string {
  const W = 640;
  const H = 300;
  const PAD = { left: 60, right: 60, top: 30, bottom: 50 };
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const maxRps = Math.max(1, ...r.rows.map((row) => row.summary.rps)) * 1.15;
  const maxMs = Math.max(1, ...r.rows.map((row) => row.summary.p99)) * 1.15;
  const slot = innerW / Math.max(1, r.rows.length);
  const yRps = (v: number) => PAD.top + innerH * (1 - v / maxRps);
  const yMs = (v: number) => PAD.top + innerH * (1 - v / maxMs);
  const parts = [
    `<text x="${W / 2}" y="18" text-anchor="middle" font-weight="bold">` +
    "functions servers sharing one database through PgBouncer (returning guests)</text>",
    `<text x="14" y="${PAD.top + innerH / 2}" transform="rotate(-90 14 ${
      PAD.top + innerH / 2
    })" text-anchor="middle" font-size="11" fill="#1c7ed6">req/s (bars)</text>`,
    `<text x="${W - 14}" y="${PAD.top + innerH / 2}" transform="rotate(90 ${W - 14} ${
      PAD.top + innerH / 2
    })" text-anchor="middle" font-size="11" fill="#c92a2a">ms: p50 ●, p99 ◆</text>`,
    `<line x1="${PAD.left}" x2="${PAD.left + innerW}" y1="${PAD.top + innerH}" y2="${
      PAD.top + innerH
    }" stroke="#888"/>`,
  ];
  r.rows.forEach((row, i) => {
    const cx = PAD.left + slot * (i + 0.5);
    const bw = slot * 0.45;
    const top = yRps(row.summary.rps);
    parts.push(
      `<rect x="${cx - bw / 2}" y="${top}" width="${bw}" height="${
        PAD.top + innerH - top
      }" fill="#a5d8ff" stroke="#1c7ed6"/>`,
      `<text x="${cx}" y="${top - 4}" text-anchor="middle" font-size="11">${
        row.summary.rps.toFixed(0)
      } req/s, ${row.errors} errors</text>`,
      `<circle cx="${cx}" cy="${yMs(row.summary.p50)}" r="4" fill="#c92a2a"/>`,
      `<text x="${cx + 8}" y="${yMs(row.summary.p50) + 4}" font-size="10">${
        row.summary.p50.toFixed(1)
      } ms</text>`,
      `<rect x="${cx - 4}" y="${yMs(row.summary.p99) - 4}" width="8" height="8" fill="#c92a2a" ` +
        `transform="rotate(45 ${cx} ${yMs(row.summary.p99)})"/>`,
      `<text x="${cx + 8}" y="${yMs(row.summary.p99) + 4}" font-size="10">${
        row.summary.p99.toFixed(1)
      } ms</text>`,
      `<text x="${cx}" y="${
        H - PAD.bottom + 16
      }" text-anchor="middle" font-size="11">${row.label}</text>`,
      `<text x="${cx}" y="${
        H - PAD.bottom + 30
      }" text-anchor="middle" font-size="10">c=${row.concurrency}, ${row.instances} × pool ${row.poolPerInstance}, peak ${row.peakServerConnections} server conns</text>`,
    );
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" ` +
    `font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/>` +
    `${parts.join("")}</svg>\n`;
}
