// Concurrency, with real parallel connections: identical upserts, contacts
// that cross-match, and repeated/reordered delivery of booking events.
import fc from "fast-check";
import type { Claims } from "../supabase/functions/_shared/auth.ts";
import { cancelBooking, upsertCustomer } from "../supabase/functions/_shared/customers.ts";
import { assert, assertEquals } from "./assert.ts";
import type { Db } from "../supabase/functions/_shared/db.ts";
import { adminSql, claims, createRestaurant, profileDrift, type Sql, testDb } from "./helpers.ts";

const service = claims.service as Claims;
// The owner pool for setup and checks, and a wide pool of its own for the
// parallel calls; both per test.
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

async function customerCount(restaurantId: string): Promise<number> {
  const [{ count }] = await admin`
    select count(*)::int from public.customers where restaurant_id = ${restaurantId}`;
  return count;
}

Deno.test("64 concurrent identical upserts make exactly one customer, without errors", async () => {
  const restaurantId = await createRestaurant(admin);
  const booking = crypto.randomUUID();
  const results = await Promise.all(
    Array.from({ length: 64 }, () =>
      upsertCustomer(pool, service, {
        restaurantId,
        name: "Same Guest",
        email: "same@example.com",
        phone: "07912 345678",
        marketingOptIn: true,
        booking: { id: booking, covers: 2 },
      })),
  );
  assertEquals(await customerCount(restaurantId), 1);
  assertEquals(results.filter((r) => r.created).length, 1);
  assertEquals(new Set(results.map((r) => r.customer.id)).size, 1);
  assertEquals(results.filter((r) => r.bookingRecorded).length, 1);
  const [profile] = await admin`
    select total_bookings, total_covers from public.customer_profiles
    where restaurant_id = ${restaurantId}`;
  assertEquals([profile.total_bookings, profile.total_covers], [1, 2]);
});

Deno.test("cross-matching contacts from parallel requests never surface a unique violation or deadlock", async () => {
  const restaurantId = await createRestaurant(admin);
  const emails = ["a@example.com", "b@example.com", "c@example.com"];
  const phones = ["+447912345671", "+447912345672", "+447912345673"];
  // Every email with every phone, each 4 times, shuffled, all at once.
  const requests = fc.sample(
    fc.shuffledSubarray(
      emails.flatMap((email) => phones.flatMap((phone) => Array(4).fill({ email, phone }))),
      { minLength: 36, maxLength: 36 },
    ),
    { seed: 5, numRuns: 1 },
  )[0] as Array<{ email: string; phone: string }>;
  const results = await Promise.all(
    requests.map((c) =>
      upsertCustomer(pool, service, { restaurantId, ...c, marketingOptIn: false })
    ),
  );
  assertEquals(results.length, 36);
  // Each contact belongs to exactly one customer (primary or secondary: a
  // free contact meeting a filled slot is kept), and every answer is
  // consistent with the rows.
  const rows = await admin`
    select id, email_normalized, phone_normalized from public.customers where restaurant_id = ${restaurantId}`;
  const contacts = await admin`
    select customer_id, kind, value_normalized from public.customer_contacts
    where restaurant_id = ${restaurantId}`;
  for (const email of emails) {
    assertEquals(contacts.filter((x) => x.value_normalized === email).length, 1, email);
    assert(rows.filter((r) => r.email_normalized === email).length <= 1, email);
  }
  for (const phone of phones) {
    assertEquals(contacts.filter((x) => x.value_normalized === phone).length, 1, phone);
    assert(rows.filter((r) => r.phone_normalized === phone).length <= 1, phone);
  }
  for (const r of results) {
    const row = rows.find((x) => x.id === r.customer.id);
    assert(row, "returned customer exists");
    if (r.conflict) {
      const holder = rows.find((x) => x.id === r.conflict!.customerId);
      assert(holder && holder.id !== row.id, "conflict names another customer");
    }
  }
});

Deno.test("counters equal the ledger under concurrent, repeated and reordered events", async () => {
  const restaurantId = await createRestaurant(admin);
  const guests = ["g1@example.com", "g2@example.com", "g3@example.com"];
  await Promise.all(
    guests.map((email) =>
      upsertCustomer(pool, service, { restaurantId, email, marketingOptIn: false })
    ),
  );
  const bookings = Array.from({ length: 30 }, (_, i) => ({
    id: crypto.randomUUID(),
    email: guests[i % guests.length],
    covers: 1 + (i % 6),
    cancelled: i % 3 === 0,
  }));
  type Event = { kind: "book" | "cancel"; b: (typeof bookings)[number] };
  const events: Event[] = bookings.flatMap((b) => [
    ...Array<Event>(4).fill({ kind: "book", b }),
    ...(b.cancelled ? Array<Event>(3).fill({ kind: "cancel", b }) : []),
  ]);
  const shuffled = fc.sample(fc.shuffledSubarray(events, { minLength: events.length }), {
    seed: 11,
    numRuns: 1,
  })[0];
  await Promise.all(shuffled.map((e) =>
    e.kind === "book"
      ? upsertCustomer(pool, service, {
        restaurantId,
        email: e.b.email,
        marketingOptIn: false,
        booking: { id: e.b.id, covers: e.b.covers },
      })
      : cancelBooking(pool, service, { restaurantId, bookingId: e.b.id, email: e.b.email })
  ));
  assertEquals(await profileDrift(admin, restaurantId), []);
  const [{ profiles }] = await admin`
    select count(*)::int as profiles from public.customer_profiles where restaurant_id = ${restaurantId}`;
  assertEquals(profiles, guests.length);
  for (const email of guests) {
    const mine = bookings.filter((b) => b.email === email);
    const [p] = await admin`
      select p.total_bookings, p.total_covers, p.total_cancellations
      from public.customer_profiles p join public.customers c on c.id = p.customer_id
      where c.restaurant_id = ${restaurantId} and c.email_normalized = ${email}`;
    assertEquals(
      [p.total_bookings, p.total_covers, p.total_cancellations],
      [mine.length, mine.reduce((s, b) => s + b.covers, 0), mine.filter((b) => b.cancelled).length],
      email,
    );
  }
});

Deno.test("a cancellation racing its booking lands on the booking's customer, whichever commits first", async () => {
  const restaurantId = await createRestaurant(admin);
  await upsertCustomer(pool, service, {
    restaurantId,
    email: "named@example.com",
    marketingOptIn: false,
  });
  for (let i = 0; i < 20; i++) {
    const bookingId = crypto.randomUUID();
    const [booked, cancelled] = await Promise.all([
      upsertCustomer(pool, service, {
        restaurantId,
        email: `booker${i}@example.com`,
        marketingOptIn: false,
        booking: { id: bookingId, covers: 2 },
      }),
      cancelBooking(pool, service, { restaurantId, bookingId, email: "named@example.com" }),
    ]);
    const [{ customer_id }] = await admin`
      select customer_id from public.customer_bookings
      where restaurant_id = ${restaurantId} and booking_id = ${bookingId} and status = 'cancelled'`;
    assertEquals(customer_id, booked.customer.id, `race ${i}`);
    assertEquals(cancelled.cancellationRecorded, true);
  }
  assertEquals(await profileDrift(admin, restaurantId), []);
  const [named] = await admin`
    select p.total_cancellations from public.customer_profiles p
    join public.customers c on c.id = p.customer_id
    where c.restaurant_id = ${restaurantId} and c.email_normalized = 'named@example.com'`;
  assertEquals(named.total_cancellations, 0);
});
