// Merge latency, measured on the working tree: one customers_merge call
// (the typed SQL call the function makes) of a source guest with 1, 100 and
// 10,000 bookings (each with the host's own row) into a guest with one
// booking, and the unmerge that undoes it. The bookings are made in bulk by
// SQL, their profiles recounted, so the setup does not dominate the run.
import type { Claims } from "../supabase/functions/_shared/auth.ts";
import { upsertCustomer } from "../supabase/functions/_shared/customers.ts";
import { createDb, type Db } from "../supabase/functions/_shared/db.ts";
import { mergeCustomers, unmergeCustomers } from "../supabase/functions/_shared/merges.ts";
import type { BenchConfig } from "./config.ts";
import type { Databases } from "./databases.ts";
import { median } from "./measure.ts";
import { withClient } from "./pg.ts";

const SERVICE: Claims = { role: "service_role" };
export const MERGE_SIZES = [1, 100, 10_000];

export interface MergeRow {
  bookings: number;
  /** Milliseconds of each merge measured. */
  mergeMs: number[];
  /** Milliseconds of each unmerge measured. */
  unmergeMs: number[];
}

/** A guest with `bookings` booking states and host rows, its profile recounted. */
async function guestWithBookings(
  url: string,
  pool: Db,
  restaurantId: string,
  label: string,
  bookings: number,
): Promise<string> {
  const guest = await upsertCustomer(pool, SERVICE, {
    restaurantId,
    name: `Mergeable ${label}`,
    email: `${label}@merge.example`,
    phone: null,
    marketingOptIn: false,
  });
  const id = guest.customer.id;
  await withClient(url, async (c) => {
    await c.query(
      `insert into public.customer_bookings (restaurant_id, booking_id, customer_id, status, status_version,
         covers, covers_version, starts_at, starts_at_version)
       select $1, gen_random_uuid(), $2, 'completed', now() - interval '1 day', 2, now() - interval '1 day',
         timestamptz '2025-01-01' + n * interval '1 hour', now() - interval '1 day'
       from generate_series(1, $3) n`,
      [restaurantId, id, bookings],
    );
    await c.query(
      `insert into public.bookings (id, restaurant_id, customer_id, customer_email, party_size, start_at, status)
       select b.booking_id, b.restaurant_id, b.customer_id, $2, b.covers, b.starts_at, 'completed'
       from public.customer_bookings b where b.customer_id = $1
       on conflict (id) do nothing`,
      [id, `${label}@merge.example`],
    );
    await c.query(`select private.recount_profile($1)`, [id]);
  });
  return id;
}

export async function merges(config: BenchConfig, databases: Databases): Promise<MergeRow[]> {
  const rows: MergeRow[] = [];
  const runs = 3;
  for (const bookings of MERGE_SIZES) {
    const db = await databases.fresh(config.template);
    const pool = createDb(db.url, { max: 4 });
    try {
      const mergeMs: number[] = [];
      const unmergeMs: number[] = [];
      // One warm-up pair, then the measured ones.
      for (let i = -1; i < runs; i++) {
        const target = await guestWithBookings(
          db.url,
          pool,
          db.restaurantId,
          `t${bookings}.${i}`,
          1,
        );
        const source = await guestWithBookings(
          db.url,
          pool,
          db.restaurantId,
          `s${bookings}.${i}`,
          bookings,
        );
        const t0 = performance.now();
        const merged = await mergeCustomers(pool, SERVICE, {
          restaurantId: db.restaurantId,
          targetId: target,
          sourceIds: [source],
        });
        const t1 = performance.now();
        await unmergeCustomers(pool, SERVICE, {
          restaurantId: db.restaurantId,
          mergeId: merged.mergeId,
        });
        const t2 = performance.now();
        if (merged.profile.totalBookings !== bookings + 1) throw new Error("merge lost bookings");
        if (i >= 0) {
          mergeMs.push(t1 - t0);
          unmergeMs.push(t2 - t1);
        }
      }
      console.log(
        `merge of a guest with ${bookings} bookings: ${median(mergeMs).toFixed(1)} ms, unmerge ${
          median(unmergeMs).toFixed(1)
        } ms`,
      );
      rows.push({ bookings, mergeMs, unmergeMs });
    } finally {
      await pool.end();
      await databases.drop(db.name);
    }
  }
  return rows;
}

export function mergeTables(rows: MergeRow[]): string[] {
  const f = (n: number) => n.toFixed(1);
  const lines = [
    "\n## Merge and unmerge latency (one SQL call each, into a guest with 1 booking)\n",
    "| source guest with | merge median ms | merge max ms | unmerge median ms | runs |",
    "|---:|---:|---:|---:|---:|",
  ];
  for (const row of rows) {
    lines.push(
      `| ${row.bookings.toLocaleString("en")} booking${row.bookings === 1 ? "" : "s"} | ${
        f(median(row.mergeMs))
      } | ${f(Math.max(...row.mergeMs))} | ${f(median(row.unmergeMs))} | ${row.mergeMs.length} |`,
    );
  }
  return lines;
}
