// The data checks after every row, and the transaction counter used for
// statements per request: read by the harness's own client, whatever the
// side under test.
import type { Verification } from "./types.ts";
import { withClient } from "./pg.ts";

export interface Expected {
  restaurantId: string;
  customers: number;
  bookings: number;
  /** The seed design keeps no ledger: only its counters can be checked. */
  ledger: boolean;
}

// Profiles that differ from a recount: the database's own drift check where
// the side has one (booking states), else the ledger the baseline keeps.
const DRIFT = `select count(*)::int as n from private.profile_drift($1)`;
const OFF_LEDGER =
  `select count(*)::int as n from public.customer_profiles p where p.restaurant_id = $1 and (
  p.total_bookings <> (select count(*) from public.customer_booking_events e
                       where e.customer_id = p.customer_id and e.kind = 'booking')
  or p.total_covers <> (select coalesce(sum(covers), 0) from public.customer_booking_events e
                        where e.customer_id = p.customer_id and e.kind = 'booking'))`;

export async function verify(url: string, expected: Expected): Promise<Verification> {
  const row = await withClient(url, async (c) => {
    const counts = (await c.query<{ customers: number; duplicates: number; bookings: number }>(
      `select
      (select count(*) from public.customers where restaurant_id = $1)::int as customers,
      (select count(*) from (
        select email_normalized from public.customers where email_normalized is not null
        group by restaurant_id, email_normalized having count(*) > 1
        union all
        select phone_normalized from public.customers where phone_normalized is not null
        group by restaurant_id, phone_normalized having count(*) > 1) d)::int as duplicates,
      (select coalesce(sum(total_bookings), 0) from public.customer_profiles
       where restaurant_id = $1)::int as bookings`,
      [expected.restaurantId],
    )).rows[0];
    const [{ drift }] = (await c.query<{ drift: boolean }>(
      `select to_regprocedure('private.profile_drift(uuid)') is not null as drift`,
    )).rows;
    const off = (await c.query<{ n: number }>(drift ? DRIFT : OFF_LEDGER, [expected.restaurantId]))
      .rows[0].n;
    return { ...counts, off_ledger: off };
  });
  const offLedger = expected.ledger ? row.off_ledger : 0;
  return {
    customers: row.customers,
    expectedCustomers: expected.customers,
    duplicates: row.duplicates,
    profilesOffLedger: offLedger,
    bookingsCounted: row.bookings,
    expectedBookings: expected.bookings,
    ok: row.customers === expected.customers && row.duplicates === 0 && offLedger === 0 &&
      row.bookings === expected.bookings,
  };
}

/**
 * Committed plus rolled-back transactions of the database so far. Backends
 * flush their statistics when they exit, so read this after the clients
 * under test disconnected; the read itself is one more transaction.
 */
export async function transactions(url: string): Promise<number> {
  return await withClient(url, async (c) =>
    Number(
      (await c.query<{ n: string }>(
        `select (xact_commit + xact_rollback)::bigint as n
         from pg_stat_database where datname = current_database()`,
      )).rows[0].n,
    ));
}
