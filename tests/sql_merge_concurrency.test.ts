// Merges under concurrency, with real parallel connections and the
// product's own calls: two merges of one pair in opposite directions at
// once, a merge racing an unmerge, and merges while upserts (adding
// contacts), cancellations and booking updates of the same guests are in
// flight. Judged by what each call answered and by the database's own
// checks afterwards: no deadlock or lock timeout (503), no booking lost or
// counted twice, no profile off its recount, no contact on a tombstone, no
// cycle of tombstones. No sleeps: every call is started at once.
import type { Claims } from "../supabase/functions/_shared/auth.ts";
import {
  cancelBooking,
  updateBooking,
  upsertCustomer,
} from "../supabase/functions/_shared/customers.ts";
import { type Db, toHttpError } from "../supabase/functions/_shared/db.ts";
import { mergeCustomers, unmergeCustomers } from "../supabase/functions/_shared/merges.ts";
import { assert, assertEquals } from "./assert.ts";
import { adminSql, claims, createRestaurant, profileDrift, type Sql, testDb } from "./helpers.ts";

const service = claims.service as Claims;
let admin: Sql;
let pool: Db;
Deno.test.beforeEach(() => {
  admin = adminSql();
  pool = testDb(16);
});
Deno.test.afterEach(async () => {
  await pool.end();
  await admin.end({ timeout: 1 });
});

/** The status and code a call ended with (200 when it answered). */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "200";
  } catch (error) {
    // Mapped as the functions map it for their callers.
    const mapped = toHttpError(error);
    return `${mapped.status} ${mapped.code}${
      mapped.status >= 500 ? ` (${(error as { message?: string }).message})` : ""
    }`;
  }
}

/** The invariants after every run (see the file's comment). */
export async function mergeInvariants(sql: Sql, restaurantId: string) {
  assertEquals(await profileDrift(sql, restaurantId), [], "profiles off their recount");
  const [row] = await sql`
    select
      (select count(*) from public.customer_contacts x join public.customers c on c.id = x.customer_id
       where x.restaurant_id = ${restaurantId} and (c.merged_into is not null or c.erased_at is not null))::int
        as contacts_on_tombstones,
      (select count(*) from public.customer_bookings b join public.customers c on c.id = b.customer_id
       where b.restaurant_id = ${restaurantId} and c.merged_into is not null)::int as bookings_on_tombstones,
      (select count(*) from public.customer_bookings b where b.restaurant_id = ${restaurantId}
       and b.covers is not null)::int as bookings,
      (select coalesce(sum(p.total_bookings), 0) from public.customer_profiles p
       where p.restaurant_id = ${restaurantId})::int as counted,
      (select count(*) from public.customers c where c.restaurant_id = ${restaurantId}
       and c.merged_into is not null
       and not exists (select from public.customers t where t.id = c.merged_into))::int as dangling`;
  assertEquals(row.contacts_on_tombstones, 0, "a contact on a tombstone");
  assertEquals(row.bookings_on_tombstones, 0, "a booking on a tombstone");
  assertEquals(row.counted, row.bookings, "bookings lost or counted twice");
  assertEquals(row.dangling, 0);
  const cycles = await sql`
    with recursive walk(start, id, depth) as (
      select c.id, c.merged_into, 1 from public.customers c
      where c.restaurant_id = ${restaurantId} and c.merged_into is not null
      union all
      select w.start, c.merged_into, w.depth + 1 from walk w join public.customers c on c.id = w.id
      where c.merged_into is not null and w.depth < 50
    )
    select start from walk where id = start or depth >= 50`;
  assertEquals([...cycles], [], "a cycle of tombstones");
  return row;
}

async function guestWithBookings(restaurantId: string, tag: string, bookings: number) {
  let id = "";
  const ids: string[] = [];
  for (let i = 0; i < bookings; i++) {
    const bookingId = crypto.randomUUID();
    ids.push(bookingId);
    const r = await upsertCustomer(pool, service, {
      restaurantId,
      email: `${tag}@race.example`,
      marketingOptIn: false,
      booking: {
        id: bookingId,
        covers: 2,
        startsAt: "2026-05-01T19:00:00Z",
        updatedAt: "2026-04-01T10:00:00Z",
      },
    });
    id = r.customer.id;
  }
  return { id, email: `${tag}@race.example`, bookings: ids };
}

Deno.test("two merges of one pair in opposite directions at once: one wins, the other is already_merged", async () => {
  const restaurantId = await createRestaurant(admin);
  for (let round = 0; round < 12; round++) {
    const a = await guestWithBookings(restaurantId, `a${round}`, 3);
    const b = await guestWithBookings(restaurantId, `b${round}`, 2);
    const results = await Promise.all([
      outcome(mergeCustomers(pool, service, { restaurantId, targetId: a.id, sourceIds: [b.id] })),
      outcome(mergeCustomers(pool, service, { restaurantId, targetId: b.id, sourceIds: [a.id] })),
    ]);
    assertEquals(results.sort(), ["200", "409 already_merged"], `round ${round}`);
  }
  await mergeInvariants(admin, restaurantId);
});

Deno.test("a merge racing an unmerge of the same guests: either order, never a deadlock", async () => {
  const restaurantId = await createRestaurant(admin);
  const seen = new Set<string>();
  for (let round = 0; round < 12; round++) {
    const a = await guestWithBookings(restaurantId, `ma${round}`, 2);
    const b = await guestWithBookings(restaurantId, `mb${round}`, 2);
    const c = await guestWithBookings(restaurantId, `mc${round}`, 1);
    const d = await guestWithBookings(restaurantId, `md${round}`, 1);
    const first = await mergeCustomers(pool, service, {
      restaurantId,
      targetId: a.id,
      sourceIds: [b.id],
    });
    const results = await Promise.all([
      outcome(unmergeCustomers(pool, service, { restaurantId, mergeId: first.mergeId })),
      // Builds on the merge: into its target.
      outcome(mergeCustomers(pool, service, { restaurantId, targetId: a.id, sourceIds: [c.id] })),
      // Needs the unmerge: its source is the merged guest.
      outcome(mergeCustomers(pool, service, { restaurantId, targetId: d.id, sourceIds: [b.id] })),
    ]);
    seen.add(results.join(" | "));
    for (const r of results) {
      assert(
        ["200", "409 merge_superseded", "409 already_merged"].includes(r),
        `round ${round}: ${results.join(" | ")}`,
      );
    }
    // The merge into a always works (a stays live); the merge of b works
    // only after the unmerge; the unmerge loses only to the merge into a.
    assertEquals(results[1], "200");
    if (results[2] === "200") assertEquals(results[0], "200");
    if (results[0] !== "200") assertEquals(results[0], "409 merge_superseded");
  }
  console.log(`  outcomes seen: ${[...seen].join("; ")}`);
  await mergeInvariants(admin, restaurantId);
});

Deno.test("merges and unmerges while upserts, cancellations and booking updates of the same guests are in flight", async () => {
  const restaurantId = await createRestaurant(admin);
  for (let round = 0; round < 4; round++) {
    const guests = await Promise.all(
      [0, 1, 2, 3].map((i) => guestWithBookings(restaurantId, `g${round}.${i}`, 4)),
    );
    const [g0, g1, g2, g3] = guests;
    const calls: Promise<string>[] = [];
    const newBookings: string[] = [];
    for (let i = 0; i < 16; i++) {
      const g = guests[i % 4];
      const bookingId = crypto.randomUUID();
      newBookings.push(bookingId);
      // New bookings, some bringing a new secondary contact.
      calls.push(outcome(upsertCustomer(pool, service, {
        restaurantId,
        email: g.email,
        phone: i % 2 ? `+4479124${round}${String(i).padStart(4, "0")}` : undefined,
        marketingOptIn: i % 3 === 0,
        booking: {
          id: bookingId,
          covers: 1 + (i % 4),
          startsAt: "2026-05-02T19:00:00Z",
          updatedAt: "2026-04-02T10:00:00Z",
        },
      })));
      // Cancellations naming the guest by id (it may be a source by then).
      calls.push(outcome(cancelBooking(pool, service, {
        restaurantId,
        bookingId: g.bookings[i % 4],
        customerId: g.id,
        cancelledAt: `2026-04-0${3 + (i % 4)}T10:00:00Z`,
      })));
      // A cancellation that arrives before its booking, on a guest by id.
      calls.push(outcome(cancelBooking(pool, service, {
        restaurantId,
        bookingId: crypto.randomUUID(),
        customerId: guests[(i + 1) % 4].id,
        cancelledAt: "2026-04-03T10:00:00Z",
      })));
      // Lifecycle updates of known bookings.
      calls.push(outcome(updateBooking(pool, service, {
        restaurantId,
        bookingId: guests[(i + 2) % 4].bookings[i % 4],
        status: i % 2 ? "completed" : "no_show",
        covers: 3,
        updatedAt: `2026-04-1${i % 10}T10:00:00Z`,
      })));
    }
    const merges = [
      outcome(mergeCustomers(pool, service, { restaurantId, targetId: g0.id, sourceIds: [g1.id] })),
      outcome(mergeCustomers(pool, service, { restaurantId, targetId: g2.id, sourceIds: [g3.id] })),
      outcome(mergeCustomers(pool, service, { restaurantId, targetId: g3.id, sourceIds: [g2.id] })),
    ];
    const results = await Promise.all([...calls, ...merges]);
    const others = results.slice(0, calls.length);
    assertEquals(others.filter((r) => r !== "200"), [], `round ${round}`);
    const mergeResults = results.slice(calls.length);
    assertEquals(mergeResults[0], "200");
    assertEquals(mergeResults.slice(1).sort(), ["200", "409 already_merged"]);
    // Then undo one merge while more bookings arrive for both of its guests.
    const [{ id: mergeId }] = await admin`
      select id from public.customer_merges where target_id = ${g0.id} and unmerged_at is null`;
    const more = await Promise.all([
      outcome(unmergeCustomers(pool, service, { restaurantId, mergeId })),
      ...[g0, g1, g0, g1].map((g) =>
        outcome(upsertCustomer(pool, service, {
          restaurantId,
          email: g.email,
          marketingOptIn: false,
          booking: { id: crypto.randomUUID(), covers: 2, updatedAt: "2026-04-20T10:00:00Z" },
        }))
      ),
      ...[g0, g1].map((g) =>
        outcome(cancelBooking(pool, service, {
          restaurantId,
          bookingId: g.bookings[3],
          customerId: g.id,
          cancelledAt: "2026-04-21T10:00:00Z",
        }))
      ),
    ]);
    assertEquals(more.filter((r) => r !== "200"), [], `round ${round} (unmerge)`);
    const row = await mergeInvariants(admin, restaurantId);
    assert(row.bookings >= (round + 1) * (16 + 16 + 4));
  }
  const [{ n }] = await admin`
    select count(*)::int as n from public.customer_bookings where restaurant_id = ${restaurantId}`;
  assert(n > 0);
});

/**
 * Waits until some backend of this database is blocked on an advisory lock
 * (an observed event, not a delay; pg_locks spans the whole cluster).
 */
async function blockedOnAdvisoryLock(waiters = 1): Promise<void> {
  for (let i = 0; i < 5000; i++) {
    const [{ n }] = await admin`
      select count(*)::int as n from pg_locks
      where locktype = 'advisory' and not granted
        and database = (select oid from pg_database where datname = current_database())`;
    if (n >= waiters) return;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  throw new Error("nobody ever waited on an advisory lock");
}

Deno.test("a contact added while a merge waits for its guest's locks is locked too, or the merge gives way (40001) and is run again", async () => {
  const restaurantId = await createRestaurant(admin);
  for (const held of [false, true]) {
    const a = await guestWithBookings(restaurantId, `lk${held}a`, 1);
    const b = await guestWithBookings(restaurantId, `lk${held}b`, 1);
    const y = `added.${held}@race.example`;
    // U: an upsert in flight, holding a's contact lock and adding y to a.
    const u = await admin.reserve();
    const w = await admin.reserve();
    try {
      await u`begin`;
      await u`select private.lock_contacts(${restaurantId}::uuid, ${a.email}, null)`;
      await u`select private.lock_contacts(${restaurantId}::uuid, ${y}, null)`;
      await u`insert into public.customer_contacts (restaurant_id, customer_id, kind, value_normalized, display, added_by)
              values (${restaurantId}, ${a.id}, 'email', ${y}, ${y}, 'upsert')`;
      // The merge reads a's contacts (without y), then waits for a's lock.
      const merge = outcome(
        admin`select private.customers_merge(p_claims => ${admin.json(service as never)},
                p_restaurant_id => ${restaurantId}::uuid, p_target_id => ${b.id}::uuid,
                p_source_ids => array[${a.id}]::uuid[])`,
      );
      const early = await Promise.race([merge, blockedOnAdvisoryLock().then(() => null)]);
      assertEquals(early, null, "the merge waits for the upsert's lock");
      let wLocked: Promise<unknown> = Promise.resolve();
      if (held) {
        // W: another request queued for y's lock; it gets it the moment U
        // ends, as the merge gets a's.
        await w`begin`;
        wLocked = w`select private.lock_contacts(${restaurantId}::uuid, ${y}, null)`.then((r) => r);
        await blockedOnAdvisoryLock(2);
      }
      await u`commit`;
      await wLocked;
      const result = await merge;
      if (held) {
        await w`rollback`;
        assertEquals(result, "503 unavailable (busy)", "gave way with 40001");
        // As the function does: run it again.
        const again = await mergeCustomers(pool, service, {
          restaurantId,
          targetId: b.id,
          sourceIds: [a.id],
        });
        assert(again.customer.emails.includes(y));
      } else if (result !== "200") {
        // Rarely: U's commit releases its locks one at a time, so the merge
        // can wake on a's lock, see y, and find y's lock not yet released:
        // it gives way (40001), as it must rather than wait out of order,
        // and the function runs it again, as here.
        assertEquals(result, "503 unavailable (busy)");
        await mergeCustomers(pool, service, { restaurantId, targetId: b.id, sourceIds: [a.id] });
      }
      const [{ owner }] = await admin`
        select customer_id as owner from public.customer_contacts
        where restaurant_id = ${restaurantId} and value_normalized = ${y}`;
      assertEquals(owner, b.id, "the added contact moved with its guest");
    } finally {
      u.release();
      w.release();
    }
  }
  await mergeInvariants(admin, restaurantId);
});

Deno.test("bookings known from their cancellations, arriving crossed between two guests at once: no deadlock", async () => {
  const restaurantId = await createRestaurant(admin);
  const outcomes: string[] = [];
  for (let round = 0; round < 30; round++) {
    const x = await guestWithBookings(restaurantId, `cx${round}`, 0);
    const y = await guestWithBookings(restaurantId, `cy${round}`, 0);
    const ids = await Promise.all(
      [x, y].map((g) =>
        upsertCustomer(pool, service, { restaurantId, email: g.email, marketingOptIn: false })
      ),
    );
    const [b1, b2] = [crypto.randomUUID(), crypto.randomUUID()];
    // b1 cancelled on x, b2 on y, before their bookings are known...
    await cancelBooking(pool, service, {
      restaurantId,
      bookingId: b1,
      customerId: ids[0].customer.id,
      cancelledAt: "2026-04-01T10:00:00Z",
    });
    await cancelBooking(pool, service, {
      restaurantId,
      bookingId: b2,
      customerId: ids[1].customer.id,
      cancelledAt: "2026-04-01T10:00:00Z",
    });
    // ...then each booking arrives with the other guest, both at once.
    const booked = (email: string, id: string) =>
      outcome(upsertCustomer(pool, service, {
        restaurantId,
        email,
        marketingOptIn: false,
        booking: { id, covers: 2, updatedAt: "2026-03-01T10:00:00Z" },
      }));
    outcomes.push(...await Promise.all([booked(y.email, b1), booked(x.email, b2)]));
  }
  assertEquals(outcomes.filter((o) => o !== "200"), []);
  await mergeInvariants(admin, restaurantId);
});
