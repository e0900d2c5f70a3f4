// The booking lifecycle in SQL: each booking's latest state decides its
// guest's numbers (visits, no-shows, late cancellations, party size, time),
// the newest version of each field wins whatever the delivery order, ties
// resolve the same way in every order, and the drift check proves the
// profile deltas. Calls go through the product's typed, one-statement path.
import { assertEquals, assertRejects } from "./assert.ts";
import { callFunction, type Db, type FunctionArgs } from "../supabase/functions/_shared/db.ts";
import type { ProfileJson } from "../supabase/functions/_shared/responses.ts";
import {
  adminSql,
  asRole,
  claims,
  createRestaurant,
  type Sql,
  testDb,
  withDatabaseBefore,
} from "./helpers.ts";

let sql: Sql;
let db: Db;
Deno.test.beforeEach(() => {
  sql = adminSql();
  db = testDb();
});
Deno.test.afterEach(async () => {
  await sql.end({ timeout: 1 });
  await db.end();
});

const service = JSON.stringify(claims.service);
// Versions are in the past: the database takes a future one as now.
const T0 = Date.parse("2026-06-01T18:00:00Z");
/** A version `n` seconds after T0. */
const v = (n: number) => new Date(T0 + n * 1000).toISOString();

interface Result {
  profile: ProfileJson;
  customer: { id: string };
  booking?: { status: string; covers: number | null; lateCancellation: boolean };
  bookingRecorded?: boolean;
  bookingApplied?: boolean;
  applied?: boolean;
  cancellationRecorded?: boolean;
}

type Booking = { status?: string; covers?: number; startsAt?: string; cancelledAt?: string };

async function book(restaurantId: string, email: string, id: string, version: string, b: Booking) {
  return await callFunction(db, "customers_upsert", {
    p_claims: service,
    p_restaurant_id: restaurantId,
    p_email_normalized: email,
    p_booking_id: id,
    p_booking_covers: b.covers ?? 2,
    p_booking_starts_at: b.startsAt ?? "2026-12-24T19:30:00Z",
    p_booking_status: b.status,
    p_booking_cancelled_at: b.cancelledAt,
    p_booking_version: version,
  }) as unknown as Result;
}

async function update(
  restaurantId: string,
  id: string,
  version: string,
  b: Booking,
): Promise<Result> {
  const args: FunctionArgs<"booking_update"> = {
    p_claims: service,
    p_restaurant_id: restaurantId,
    p_booking_id: id,
    p_version: version,
  };
  if (b.status) args.p_status = b.status;
  if (b.covers) args.p_covers = b.covers;
  if (b.startsAt) args.p_starts_at = b.startsAt;
  if (b.cancelledAt) args.p_cancelled_at = b.cancelledAt;
  return await callFunction(db, "booking_update", args) as unknown as Result;
}

async function drift(restaurantId: string) {
  return [...await sql`select * from private.profile_drift(${restaurantId})`];
}

Deno.test("each status transition moves exactly its counters", async () => {
  const restaurantId = await createRestaurant(sql);
  const id = crypto.randomUUID();
  const start = "2026-12-24T19:30:00Z";
  const created = await book(restaurantId, "life@example.com", id, v(0), {
    status: "pending",
    covers: 2,
    startsAt: start,
  });
  const counts = (r: Result) => [
    r.profile.totalBookings,
    r.profile.totalCovers,
    r.profile.totalCancellations,
    r.profile.totalVisits,
    r.profile.totalNoShows,
  ];
  assertEquals([created.bookingRecorded, created.bookingApplied], [true, true]);
  assertEquals(counts(created), [1, 2, 0, 0, 0]);
  const steps: Array<[Booking, number[], string | null]> = [
    [{ status: "confirmed" }, [1, 2, 0, 0, 0], null],
    [{ covers: 6 }, [1, 6, 0, 0, 0], null],
    [{ status: "cancelled" }, [1, 6, 1, 0, 0], null],
    [{ status: "confirmed" }, [1, 6, 0, 0, 0], null], // reinstated
    [{ status: "no_show" }, [1, 6, 0, 0, 1], null],
    [{ status: "completed" }, [1, 6, 0, 1, 0], start], // a disputed no-show corrected
  ];
  for (const [i, [change, expected, lastVisit]] of steps.entries()) {
    const r = await update(restaurantId, id, v(i + 1), change);
    assertEquals(r.applied, true, JSON.stringify(change));
    assertEquals(counts(r), expected, JSON.stringify(change));
    assertEquals(
      r.profile.lastVisitAt && new Date(r.profile.lastVisitAt).toISOString(),
      lastVisit && new Date(lastVisit).toISOString(),
    );
  }
  const moved = await update(restaurantId, id, v(10), { startsAt: "2027-01-05T20:00:00Z" });
  assertEquals(new Date(moved.profile.lastBookingAt!).toISOString(), "2027-01-05T20:00:00.000Z");
  assertEquals(new Date(moved.profile.lastVisitAt!).toISOString(), "2027-01-05T20:00:00.000Z");
  assertEquals(await drift(restaurantId), []);
});

Deno.test("a stale or identical snapshot changes nothing and is answered as not applied", async () => {
  const restaurantId = await createRestaurant(sql);
  const id = crypto.randomUUID();
  await book(restaurantId, "stale@example.com", id, v(10), { covers: 4, status: "confirmed" });
  const older = await book(restaurantId, "stale@example.com", id, v(5), { covers: 8 });
  assertEquals([older.bookingRecorded, older.bookingApplied, older.profile.totalCovers], [
    false,
    false,
    4,
  ]);
  const same = await book(restaurantId, "stale@example.com", id, v(10), { covers: 4 });
  assertEquals([same.bookingApplied, same.profile.totalCovers], [false, 4]);
  const staleUpdate = await update(restaurantId, id, v(1), { status: "cancelled" });
  assertEquals([staleUpdate.applied, staleUpdate.profile.totalCancellations], [false, 0]);
  assertEquals(await drift(restaurantId), []);
});

Deno.test("a delivery that changes nothing writes nothing: its transaction stays read-only", async () => {
  const restaurantId = await createRestaurant(sql);
  const id = crypto.randomUUID();
  await book(restaurantId, "retry@example.com", id, v(10), { covers: 4, status: "confirmed" });
  // The upsert in a transaction of its own, then whether it took a transaction id (any write does).
  const wrote = (version: string, covers: number) =>
    sql.begin(async (tx) => {
      const [{ result }] = await tx`
        select private.customers_upsert(
          p_claims => ${service}::text::jsonb, p_restaurant_id => ${restaurantId},
          p_email_normalized => 'retry@example.com', p_booking_id => ${id},
          p_booking_covers => ${covers}, p_booking_starts_at => '2026-12-24T19:30:00Z',
          p_booking_status => 'confirmed', p_booking_version => ${version}
        ) as result`;
      const [{ xid }] = await tx`select pg_current_xact_id_if_assigned()::text as xid`;
      return [(result as Result).bookingApplied, xid !== null];
    });
  assertEquals(await wrote(v(10), 4), [false, false], "the same snapshot again (a webhook retry)");
  assertEquals(await wrote(v(5), 8), [false, false], "an older snapshot");
  assertEquals(
    await wrote(v(11), 4),
    [false, true],
    "a newer version of the same values moves the versions",
  );
  assertEquals(await wrote(v(12), 6), [true, true], "a change");
  assertEquals(await drift(restaurantId), []);
});

Deno.test("ties between equal versions resolve the same way in either order", async () => {
  const restaurantId = await createRestaurant(sql);
  const outcomes = [];
  for (const order of [[0, 1], [1, 0]]) {
    const id = crypto.randomUUID();
    const email = `tie${order.join("")}@example.com`;
    const snapshots: Booking[] = [
      { status: "confirmed", covers: 3, startsAt: "2026-12-24T19:00:00Z" },
      { status: "cancelled", covers: 5, startsAt: "2026-12-24T21:00:00Z" },
    ];
    let last: Result | undefined;
    for (const i of order) last = await book(restaurantId, email, id, v(7), snapshots[i]);
    outcomes.push([
      last!.profile.totalCovers,
      last!.profile.totalCancellations,
      last!.profile.lastBookingAt,
    ]);
  }
  assertEquals(outcomes[0], outcomes[1]);
  assertEquals(await drift(restaurantId), []);
});

Deno.test("two cancellations of one version keep the later time in either order", async () => {
  // A host transaction that cancels and then corrects cancelled_at stamps
  // both rows with one updated_at: its two webhooks may come in any order.
  const restaurantId = await createRestaurant(sql);
  const start = "2026-12-24T19:00:00Z";
  const cancellations: Booking[] = [
    { status: "cancelled", startsAt: start, cancelledAt: "2026-12-23T17:00:00Z" }, // 26 h before
    { status: "cancelled", startsAt: start, cancelledAt: "2026-12-24T17:00:00Z" }, // 2 h before
  ];
  const outcomes = [];
  for (const order of [[0, 1], [1, 0]]) {
    const id = crypto.randomUUID();
    const email = `cancelled${order.join("")}@example.com`;
    await book(restaurantId, email, id, v(0), { startsAt: start });
    let last: Result | undefined;
    for (const i of order) last = await book(restaurantId, email, id, v(5), cancellations[i]);
    const [state] = await sql`select cancelled_at, late_cancellation from public.customer_bookings
                              where restaurant_id = ${restaurantId} and booking_id = ${id}`;
    outcomes.push({
      cancelledAt: new Date(state.cancelled_at).toISOString(),
      late: state.late_cancellation,
      lateCancellations: last!.profile.totalLateCancellations,
    });
  }
  assertEquals(outcomes[0], {
    cancelledAt: "2026-12-24T17:00:00.000Z",
    late: true,
    lateCancellations: 1,
  });
  assertEquals(outcomes[1], outcomes[0]);
  assertEquals(await drift(restaurantId), []);
});

Deno.test("partial changes compose with a full snapshot that arrives late", async () => {
  const restaurantId = await createRestaurant(sql);
  const id = crypto.randomUUID();
  await book(restaurantId, "late@example.com", id, v(0), {
    covers: 2,
    startsAt: "2026-12-24T19:00:00Z",
  });
  // v(2) changes the party only; v(1), delivered after it, moved the time.
  await update(restaurantId, id, v(2), { covers: 6 });
  const r = await book(restaurantId, "late@example.com", id, v(1), {
    covers: 2,
    startsAt: "2026-12-31T19:00:00Z",
  });
  assertEquals(r.bookingApplied, true);
  assertEquals(r.profile.totalCovers, 6);
  assertEquals(new Date(r.profile.lastBookingAt!).toISOString(), "2026-12-31T19:00:00.000Z");
  assertEquals(await drift(restaurantId), []);
});

Deno.test("late cancellations follow the restaurant's window, 24 hours by default", async () => {
  const restaurantId = await createRestaurant(sql);
  const start = "2026-12-24T19:00:00Z";
  const early = crypto.randomUUID();
  const late = crypto.randomUUID();
  await book(restaurantId, "window@example.com", early, v(0), { startsAt: start });
  await book(restaurantId, "window@example.com", late, v(0), { startsAt: start });
  await update(restaurantId, early, v(1), {
    status: "cancelled",
    cancelledAt: "2026-12-23T18:00:00Z", // 25 h before
  });
  const r = await update(restaurantId, late, v(1), {
    status: "cancelled",
    cancelledAt: "2026-12-23T20:00:00Z", // 23 h before
  });
  assertEquals([r.profile.totalCancellations, r.profile.totalLateCancellations], [2, 1]);
  assertEquals(r.booking?.lateCancellation, true);
  const reinstated = await update(restaurantId, late, v(2), { status: "confirmed" });
  assertEquals(reinstated.profile.totalLateCancellations, 0);
  await sql`update public.restaurants set late_cancellation_window = interval '48 hours'
            where id = ${restaurantId}`;
  const wider = await update(restaurantId, early, v(3), {
    status: "cancelled",
    cancelledAt: "2026-12-23T18:00:00Z",
  });
  assertEquals(wider.profile.totalLateCancellations, 1, "judged with the window now in force");
  assertEquals(await drift(restaurantId), []);
});

Deno.test("a cancellation before its booking counts, and the booking keeps it when it comes", async () => {
  const restaurantId = await createRestaurant(sql);
  await book(restaurantId, "early@example.com", crypto.randomUUID(), v(0), {});
  const id = crypto.randomUUID();
  const cancelled = await callFunction(db, "customer_cancel", {
    p_claims: service,
    p_restaurant_id: restaurantId,
    p_booking_id: id,
    p_email_normalized: "early@example.com",
    p_cancelled_at: v(5),
  }) as unknown as Result;
  assertEquals(cancelled.cancellationRecorded, true);
  assertEquals([cancelled.profile.totalBookings, cancelled.profile.totalCancellations], [1, 1]);
  assertEquals(
    [cancelled.profile.totalLateCancellations, cancelled.profile.lastBookingAt],
    [0, "2026-12-24T19:30:00+00:00"],
    "a cancellation alone has no start: neither late nor a booking date",
  );
  const booked = await book(restaurantId, "early@example.com", id, v(1), { covers: 3 });
  assertEquals([booked.bookingRecorded, booked.bookingApplied], [true, true]);
  assertEquals(
    [booked.profile.totalBookings, booked.profile.totalCovers, booked.profile.totalCancellations],
    [2, 5, 1],
  );
  assertEquals(await drift(restaurantId), []);
});

Deno.test("a version from the future is taken as now: it cannot freeze a booking", async () => {
  const restaurantId = await createRestaurant(sql);
  const id = crypto.randomUUID();
  await book(restaurantId, "future@example.com", id, "2099-01-01T00:00:00Z", {
    status: "confirmed",
    covers: 2,
  });
  const r = await update(restaurantId, id, new Date(Date.now() + 1000).toISOString(), {
    status: "cancelled",
  });
  assertEquals([r.applied, r.profile.totalCancellations], [true, 1]);
  assertEquals(await drift(restaurantId), []);
});

Deno.test("a version of -infinity or infinity is refused: only the state itself uses the weakest version", async () => {
  const restaurantId = await createRestaurant(sql);
  const id = crypto.randomUUID();
  for (const version of ["-infinity", "infinity"]) {
    await assertRejects(
      () => book(restaurantId, "inf@example.com", id, version, { status: "cancelled", covers: 2 }),
      (e: { code?: string }) => e.code === "PT400",
      version,
    );
  }
  const [{ n }] = await sql`
    select count(*)::int as n from public.customer_bookings where restaurant_id = ${restaurantId}`;
  assertEquals(n, 0);
});

Deno.test("booking_update: an unknown booking is booking_not_found; bad values are refused", async () => {
  const restaurantId = await createRestaurant(sql);
  await assertRejects(
    () => update(restaurantId, crypto.randomUUID(), v(0), { status: "completed" }),
    (e: { code?: string; message?: string }) =>
      e.code === "PT404" && e.message === "booking_not_found",
  );
  const id = crypto.randomUUID();
  await book(restaurantId, "bad@example.com", id, v(0), {});
  await assertRejects(
    () => update(restaurantId, id, v(1), { status: "seated" }),
    (e: { code?: string }) => e.code === "PT400",
  );
});

Deno.test("the drift check reports a profile that does not match its bookings", async () => {
  const restaurantId = await createRestaurant(sql);
  const r = await book(restaurantId, "drift@example.com", crypto.randomUUID(), v(0), {});
  assertEquals(await drift(restaurantId), []);
  await sql`update public.customer_profiles set total_visits = 7 where customer_id = ${r.customer.id}`;
  const [row] = await drift(restaurantId);
  assertEquals(row.customer_id, r.customer.id);
  assertEquals([row.stored.totalVisits, row.recounted.totalVisits], [7, 0]);
  await sql`select private.recount_profile(${r.customer.id})`;
  assertEquals(await drift(restaurantId), []);
});

Deno.test("no profile counter can be stored negative, whatever writes it", async () => {
  const restaurantId = await createRestaurant(sql);
  const r = await book(restaurantId, "tally@example.com", crypto.randomUUID(), v(0), {});
  const counters = [
    "total_bookings",
    "total_covers",
    "total_cancellations",
    "total_late_cancellations",
    "total_visits",
    "total_no_shows",
  ];
  for (const column of counters) {
    await assertRejects(
      () =>
        asRole(
          sql,
          "service_role",
          (tx) =>
            tx`update public.customer_profiles set ${
              sql(column)
            } = -1 where customer_id = ${r.customer.id}`,
        ),
      (e: { code?: string }) => e.code === "23514",
      column,
    );
  }
  // A profile inserted with a negative counter is refused as well.
  await assertRejects(
    () =>
      sql`insert into public.customer_profiles (customer_id, restaurant_id, total_no_shows)
          values (${r.customer.id}, ${restaurantId}, -1)
          on conflict (customer_id) do update set total_no_shows = excluded.total_no_shows`,
    (e: { code?: string }) => e.code === "23514",
  );
  // A counter moved below zero by arithmetic is refused too, and zero is a count.
  await assertRejects(
    () =>
      sql`update public.customer_profiles set total_visits = total_visits - 1 where customer_id = ${r.customer.id}`,
    (e: { code?: string }) => e.code === "23514",
  );
  await sql`update public.customer_profiles set total_covers = 0 where customer_id = ${r.customer.id}`;
  const [row] =
    await sql`select total_covers from public.customer_profiles where customer_id = ${r.customer.id}`;
  assertEquals(row.total_covers, 0);
});

Deno.test("a booking state that breaks a rule is refused by the table, whoever writes it", async () => {
  const restaurantId = await createRestaurant(sql);
  const r = await book(restaurantId, "rules@example.com", crypto.randomUUID(), v(0), {});
  const t = v(0);
  const valid = {
    restaurant_id: restaurantId,
    customer_id: r.customer.id,
    status: "confirmed",
    status_version: t,
    covers: 2,
    covers_version: t,
    starts_at: t,
    starts_at_version: t,
  };
  // Written as an API role (service_role) would write it: the CHECK runs
  // with the writer's rights, so its validator must be executable by them.
  const insert = (change: Record<string, unknown>) =>
    asRole(
      sql,
      "service_role",
      (tx) =>
        tx`insert into public.customer_bookings ${
          sql({ ...valid, booking_id: crypto.randomUUID(), ...change })
        }`,
    );
  const broken: Record<string, unknown>[] = [
    { status: "seated" },
    { covers: 0 },
    { covers: 1001 },
    // A field and its version come together, both ways.
    { status_version: null },
    { covers_version: null },
    { starts_at_version: null },
    { status: null },
    { covers: null },
    { starts_at: null },
    // A cancellation time and a late flag only on a cancelled booking, and a
    // state without a status is not cancelled.
    { cancelled_at: t },
    { late_cancellation: true },
    { status: null, status_version: null, cancelled_at: t },
    { status: null, status_version: null, late_cancellation: true },
  ];
  for (const change of broken) {
    await assertRejects(
      () => insert(change),
      (e: { code?: string }) => e.code === "23514",
      JSON.stringify(change),
    );
  }
  const accepted: Record<string, unknown>[] = [
    {},
    { status: "pending" },
    { status: "completed" },
    { status: "no_show" },
    { status: "cancelled", cancelled_at: t, late_cancellation: true },
    { covers: 1 },
    { covers: 1000 },
    // A cancellation known before its booking: no covers, no start yet.
    {
      status: "cancelled",
      cancelled_at: t,
      covers: null,
      covers_version: null,
      starts_at: null,
      starts_at_version: null,
    },
  ];
  for (const change of accepted) await insert(change);
  // The same rules hold for an update.
  const bookingId = crypto.randomUUID();
  await sql`insert into public.customer_bookings ${sql({ ...valid, booking_id: bookingId })}`;
  await assertRejects(
    () =>
      sql`update public.customer_bookings set late_cancellation = true
          where restaurant_id = ${restaurantId} and booking_id = ${bookingId}`,
    (e: { code?: string }) => e.code === "23514",
  );
  await sql`update public.customer_bookings
            set status = 'cancelled', cancelled_at = ${t}, late_cancellation = true
            where restaurant_id = ${restaurantId} and booking_id = ${bookingId}`;
});

Deno.test("upgrade: the ledger's bookings and cancellations become states, none lost", async () => {
  // A database migrated up to the ledger, holding events recorded through
  // the old functions (in both orders), then upgraded by the new migration.
  await withDatabaseBefore(
    "20261126100000_booking_lifecycle.sql",
    async ({ sql: old, call, upgrade }) => {
      const [{ id: rid }] = await old`
      insert into public.restaurants (name, phone_region) values ('Old', 'GB') returning id`;
      const soon = new Date(Date.now() + 2 * 3600_000).toISOString();
      const later = new Date(Date.now() + 5 * 86400_000).toISOString();
      const [b1, b2, b3] = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
      const base = {
        p_claims: claims.service,
        p_restaurant_id: rid,
        p_email_normalized: "old@example.com",
      };
      await call("customers_upsert", {
        ...base,
        p_booking_id: b1,
        p_booking_covers: 2,
        p_booking_starts_at: soon,
      });
      await call("customers_upsert", {
        ...base,
        p_booking_id: b2,
        p_booking_covers: 4,
        p_booking_starts_at: later,
      });
      await call("customer_cancel", { ...base, p_booking_id: b1 });
      await call("customer_cancel", { ...base, p_booking_id: b3 }); // before its booking
      const [before] = await old`
      select total_bookings, total_covers, total_cancellations from public.customer_profiles`;
      assertEquals([before.total_bookings, before.total_covers, before.total_cancellations], [
        2,
        6,
        2,
      ]);

      await upgrade();
      const states = await old`
      select booking_id, status, covers, late_cancellation from public.customer_bookings
      order by covers nulls last`;
      assertEquals(states.map((s) => [s.booking_id, s.status, s.covers, s.late_cancellation]), [
        [b1, "cancelled", 2, true],
        [b2, "confirmed", 4, false],
        [b3, "cancelled", null, false],
      ]);
      const [after] = await old`
      select total_bookings, total_covers, total_cancellations, total_late_cancellations
      from public.customer_profiles`;
      assertEquals(
        [
          after.total_bookings,
          after.total_covers,
          after.total_cancellations,
          after.total_late_cancellations,
        ],
        [2, 6, 2, 1],
      );
      assertEquals([...await old`select * from private.profile_drift()`], []);
      const [{ ledger }] =
        await old`select to_regclass('public.customer_booking_events') as ledger`;
      assertEquals(ledger, null);
    },
  );
});
