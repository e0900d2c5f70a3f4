// Guest rights, measured on the working tree: look-up (the SQL function
// alone, and the function over HTTP, as for the upsert) and erasure of a
// guest with 1 and with 1,000 bookings (each with the host's own row).
import type { Claims } from "../supabase/functions/_shared/auth.ts";
import {
  eraseCustomer,
  lookupCustomer,
  upsertCustomer,
} from "../supabase/functions/_shared/customers.ts";
import { createDb, type Db } from "../supabase/functions/_shared/db.ts";
import type { BenchConfig } from "./config.ts";
import type { Databases } from "./databases.ts";
import { drive, median, summarize, type Summary } from "./measure.ts";
import { withClient } from "./pg.ts";
import { spawnServer } from "./process.ts";
import { HOT } from "./workloads.ts";

const SERVICE: Claims = { role: "service_role" };

export interface LookupRow {
  path: "limit" | "functions";
  concurrency: number;
  summary: Summary;
  errors: number;
}

export interface EraseRow {
  bookings: number;
  /** Milliseconds of each erasure measured. */
  ms: number[];
}

export interface RightsResults {
  lookup: LookupRow[];
  erase: EraseRow[];
}

const email = (k: number) => `regular.${k}@example.com`;

/** Guests to find, then look-ups by email drawn round-robin over them. */
async function lookups(
  config: BenchConfig,
  databases: Databases,
  token: string,
): Promise<LookupRow[]> {
  const db = await databases.fresh(config.template);
  const pool = createDb(db.url, { max: config.pool });
  const rows: LookupRow[] = [];
  try {
    for (let k = 0; k < HOT; k++) {
      await upsertCustomer(pool, SERVICE, {
        restaurantId: db.restaurantId,
        email: email(k),
        marketingOptIn: false,
      });
    }
    const server = await spawnServer([`${config.root}scripts/serve.ts`], {
      SUPABASE_DB_URL: db.url,
      SUPABASE_JWT_SECRET: config.jwtSecret,
      SUPABASE_URL: "http://127.0.0.1:9",
      DB_POOL_MAX: String(config.pool),
    });
    try {
      for (const concurrency of config.concurrency) {
        const n = Math.max(concurrency * 4, Math.round(2000 * config.scale));
        const requests = Array.from({ length: n }, (_, i) => ({
          restaurantId: db.restaurantId,
          email: email(i % HOT),
        }));
        const limit = await drive(
          `lookup / limit / c=${concurrency}`,
          requests,
          concurrency,
          async (r) => {
            await lookupCustomer(pool, SERVICE, r);
            return true;
          },
        );
        rows.push({ path: "limit", concurrency, summary: summarize(limit), errors: limit.errors });
        const http = await drive(
          `lookup / functions / c=${concurrency}`,
          requests,
          concurrency,
          async (r) => {
            const response = await fetch(`${server.url}/functions/v1/customer-lookup`, {
              method: "POST",
              headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
              body: JSON.stringify(r),
            });
            await response.arrayBuffer();
            return response.status === 200;
          },
        );
        rows.push({
          path: "functions",
          concurrency,
          summary: summarize(http),
          errors: http.errors,
        });
      }
    } finally {
      await server.stop();
    }
  } finally {
    await pool.end();
    await databases.drop(db.name);
  }
  return rows;
}

/** A guest with `bookings` bookings, each with a host row, made in bulk by SQL. */
async function bookedGuest(
  url: string,
  pool: Db,
  restaurantId: string,
  i: number,
  bookings: number,
) {
  const guest = await upsertCustomer(pool, SERVICE, {
    restaurantId,
    name: `Erasable ${i}`,
    email: `erasable.${i}@example.com`,
    marketingOptIn: false,
  });
  for (let b = 0; b < bookings; b++) {
    await upsertCustomer(pool, SERVICE, {
      restaurantId,
      email: `erasable.${i}@example.com`,
      marketingOptIn: false,
      booking: {
        id: crypto.randomUUID(),
        covers: 2,
        startsAt: new Date(Date.UTC(2025, 0, 1) + b * 3600_000).toISOString(),
      },
    });
  }
  await withClient(url, (c) =>
    c.query(
      `insert into public.bookings (id, restaurant_id, customer_id, customer_name, customer_email,
         party_size, start_at, status)
       select b.booking_id, b.restaurant_id, b.customer_id, $2, $3, b.covers, b.starts_at, 'completed'
       from public.customer_bookings b where b.customer_id = $1`,
      [guest.customer.id, `Erasable ${i}`, `erasable.${i}@example.com`],
    ));
  return guest.customer.id;
}

async function erasures(config: BenchConfig, databases: Databases): Promise<EraseRow[]> {
  const rows: EraseRow[] = [];
  for (const bookings of [1, 1000]) {
    const db = await databases.fresh(config.template);
    const pool = createDb(db.url, { max: 4 });
    try {
      const ms: number[] = [];
      for (let i = 0; i < 3; i++) {
        const id = await bookedGuest(db.url, pool, db.restaurantId, i, bookings);
        const t0 = performance.now();
        const r = await eraseCustomer(pool, SERVICE, {
          restaurantId: db.restaurantId,
          customerId: id,
          force: true,
        });
        ms.push(performance.now() - t0);
        if (!r.erased) throw new Error("erasure did not happen");
      }
      rows.push({ bookings, ms });
    } finally {
      await pool.end();
      await databases.drop(db.name);
    }
  }
  return rows;
}

export async function rights(
  config: BenchConfig,
  databases: Databases,
  token: string,
): Promise<RightsResults> {
  return {
    lookup: await lookups(config, databases, token),
    erase: await erasures(config, databases),
  };
}

export function rightsTables(r: RightsResults): string[] {
  const f = (n: number, d = 2) => n.toFixed(d);
  const lines = [
    "\n## Guest rights: look-up (by email) and erasure\n",
    "| path | c | req/s | p50 ms | p99 ms | errors |",
    "|---|---:|---:|---:|---:|---:|",
  ];
  for (const row of r.lookup) {
    const s = row.summary;
    lines.push(
      `| ${row.path} | ${row.concurrency} | ${f(s.rps, 0)} | ${f(s.p50)} | ${
        f(s.p99)
      } | ${row.errors} |`,
    );
  }
  lines.push("", "| erasure of a guest with | median ms | runs |", "|---:|---:|---:|");
  for (const row of r.erase) {
    lines.push(
      `| ${row.bookings} booking${row.bookings === 1 ? "" : "s"} | ${
        f(median(row.ms), 1)
      } | ${row.ms.length} |`,
    );
  }
  return lines;
}
