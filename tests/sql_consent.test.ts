// Marketing consent with evidence, in SQL: per channel, an append-only
// history; the state is the latest event; upserts only grant; replays and
// repeated withdrawals add nothing; a withdrawal racing a grant follows the
// event times; marketing lists never hold a withdrawn guest.
import type postgres from "postgres";
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { callFunction, type Db } from "../supabase/functions/_shared/db.ts";
import { upsertCustomer } from "../supabase/functions/_shared/customers.ts";
import type { Claims } from "../supabase/functions/_shared/auth.ts";
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
  db = testDb(8);
});
Deno.test.afterEach(async () => {
  await sql.end({ timeout: 1 });
  await db.end();
});

const service = claims.service as Claims;
// deno-lint-ignore no-explicit-any
type Body = Record<string, any>;

async function consent(
  restaurantId: string,
  customerId: string,
  channel: string,
  granted: boolean,
  extra: Body = {},
) {
  return await callFunction(db, "customer_consent", {
    p_claims: JSON.stringify(service),
    p_restaurant_id: restaurantId,
    p_customer_id: customerId,
    p_channel: channel,
    p_granted: granted,
    ...extra,
  }) as Body;
}

async function events(customerId: string) {
  return await sql`
    select e.channel, e.action, e.source, w.wording from public.consent_events e
    left join public.consent_wordings w on w.id = e.wording_id
    where e.customer_id = ${customerId} order by e.occurred_at, e.recorded_at`;
}

Deno.test("each transition per channel, with its evidence; the email state is marketingOptIn", async () => {
  const restaurantId = await createRestaurant(sql);
  const g = await upsertCustomer(db, service, {
    restaurantId,
    email: "c1@example.com",
    marketingOptIn: false,
  });
  assertEquals([g.consent.email.state, g.consent.sms.state], ["none", "none"]);
  const smsOn = await consent(restaurantId, g.customer.id, "sms", true, {
    p_source: "staff",
    p_wording: "Texts about events, at most monthly.",
  });
  assertEquals([smsOn.recorded, smsOn.consent.sms.state, smsOn.customer.marketingOptIn], [
    true,
    "granted",
    false,
  ]);
  const emailOn = await consent(restaurantId, g.customer.id, "email", true);
  assertEquals([emailOn.consent.email.state, emailOn.customer.marketingOptIn], ["granted", true]);
  assert(emailOn.profile.marketingOptInAt);
  const emailOff = await consent(restaurantId, g.customer.id, "email", false);
  assertEquals([emailOff.consent.email.state, emailOff.customer.marketingOptIn], [
    "withdrawn",
    false,
  ]);
  assertEquals(emailOff.consent.sms.state, "granted", "channels are independent");
  const again = await consent(restaurantId, g.customer.id, "email", false);
  assertEquals(again.recorded, false, "a repeated withdrawal adds nothing");
  assertEquals(
    [...await events(g.customer.id)].map((e) => [e.channel, e.action, e.source, e.wording]),
    [
      ["sms", "grant", "staff", "Texts about events, at most monthly."],
      ["email", "grant", "api", null],
      ["email", "withdraw", "api", null],
    ],
  );
  await assertRejects(
    () =>
      sql`update public.consent_events set action = 'grant' where customer_id = ${g.customer.id}`,
    (e: { message?: string }) => e.message === "append_only",
  );
  await assertRejects(
    () =>
      sql.begin(async (tx) => {
        await tx`set local role service_role`;
        await tx`delete from public.consent_events where customer_id = ${g.customer.id}`;
      }),
    (e: { code?: string }) => e.code === "42501",
    "no API role may delete history",
  );
});

Deno.test("a consent event that breaks a rule is refused by the table, whoever writes it", async () => {
  const restaurantId = await createRestaurant(sql);
  const g = await upsertCustomer(db, service, {
    restaurantId,
    email: "rules@example.com",
    marketingOptIn: false,
  });
  const valid = {
    restaurant_id: restaurantId,
    customer_id: g.customer.id,
    channel: "email",
    action: "grant",
    source: "staff",
    actor: "service",
    occurred_at: new Date().toISOString(),
  };
  // Written as an API role would write it: the CHECK runs with the writer's
  // rights, so its validator must be executable by them.
  const insert = (change: Record<string, unknown>) =>
    asRole(
      sql,
      "service_role",
      (tx) => tx`insert into public.consent_events ${sql({ ...valid, ...change })}`,
    );
  const broken: Record<string, unknown>[] = [
    { channel: "fax" },
    { action: "maybe" },
    { source: "rumour" },
    { actor: "someone" },
    { actor: "" },
    { actor: "z".repeat(36) },
    { actor: crypto.randomUUID().toUpperCase() },
    { actor: crypto.randomUUID() + "0" },
    { idempotency_key: "k".repeat(201) },
  ];
  for (const change of broken) {
    await assertRejects(
      () => insert(change),
      (e: { code?: string }) => e.code === "23514",
      JSON.stringify(change),
    );
  }
  const sources = ["booking", "staff", "import", "unsubscribe_link", "api", "erasure", "merge"];
  const accepted: Record<string, unknown>[] = [
    { channel: "sms", action: "withdraw", actor: crypto.randomUUID() },
    { idempotency_key: "k".repeat(200) },
    { idempotency_key: null },
    ...sources.map((source) => ({ source })),
  ];
  for (const change of accepted) await insert(change);
  assertEquals((await events(g.customer.id)).length, accepted.length);
});

Deno.test("upserts only grant: unticked is not a withdrawal; a replayed booking adds no second event", async () => {
  const restaurantId = await createRestaurant(sql);
  const booking = { id: crypto.randomUUID(), covers: 2 };
  const first = await upsertCustomer(db, service, {
    restaurantId,
    email: "c2@example.com",
    marketingOptIn: true,
    consent: [{ channel: "sms", granted: true, wording: "Texts" }],
    booking,
  });
  assertEquals([first.consent.email.state, first.consent.sms.state], ["granted", "granted"]);
  await upsertCustomer(db, service, {
    restaurantId,
    email: "c2@example.com",
    marketingOptIn: true,
    booking,
  });
  const unticked = await upsertCustomer(db, service, {
    restaurantId,
    email: "c2@example.com",
    marketingOptIn: false,
  });
  assertEquals(unticked.consent.email.state, "granted");
  assertEquals((await events(first.customer.id)).length, 2);
  await assertRejects(
    () =>
      upsertCustomer(db, service, {
        restaurantId,
        email: "c2@example.com",
        marketingOptIn: false,
        consent: [{ channel: "email", granted: false as unknown as true }],
      }),
    (e: { status?: number }) => e.status === 400,
  );
});

Deno.test("a withdrawal racing a grant: the state follows the event times, the history keeps both", async () => {
  const restaurantId = await createRestaurant(sql);
  const g = await upsertCustomer(db, service, {
    restaurantId,
    email: "c3@example.com",
    marketingOptIn: false,
  });
  for (let i = 0; i < 10; i++) {
    await Promise.all([
      consent(restaurantId, g.customer.id, "email", true, { p_wording: `grant ${i}` }),
      consent(restaurantId, g.customer.id, "email", false, { p_wording: `withdraw ${i}` }),
    ]);
    const [latest] = await sql`
      select action from public.consent_events where customer_id = ${g.customer.id} and channel = 'email'
      order by occurred_at desc, action desc limit 1`;
    const [{ marketing_opt_in }] = await sql`
      select marketing_opt_in from public.customers where id = ${g.customer.id}`;
    assertEquals(marketing_opt_in, latest.action === "grant", `round ${i}`);
  }
  assertEquals((await events(g.customer.id)).length, 20);
});

Deno.test("an upsert's grant racing a withdrawal never deadlocks, whichever wins", async () => {
  const restaurantId = await createRestaurant(sql);
  const g = await upsertCustomer(db, service, {
    restaurantId,
    email: "dl@example.com",
    marketingOptIn: false,
  });
  for (let i = 0; i < 20; i++) {
    const results = await Promise.allSettled([
      upsertCustomer(db, service, {
        restaurantId,
        email: "dl@example.com",
        marketingOptIn: true,
        booking: { id: crypto.randomUUID(), covers: 2 },
      }),
      consent(restaurantId, g.customer.id, "email", false),
    ]);
    assertEquals(results.map((r) => r.status), ["fulfilled", "fulfilled"], `round ${i}`);
  }
});

Deno.test("a consent list that is not a list of grants is refused whole, before anything is written, whatever the booking", async () => {
  const restaurantId = await createRestaurant(sql);
  await upsertCustomer(db, service, {
    restaurantId,
    email: "known@example.com",
    marketingOptIn: false,
  });
  // As rpc() callers can send it (the HTTP API's schema refuses these first).
  const upsert = (email: string, status: string, consent: unknown) =>
    callFunction(db, "customers_upsert", {
      p_claims: JSON.stringify(service),
      p_restaurant_id: restaurantId,
      p_email: email,
      p_email_normalized: email,
      p_booking_id: crypto.randomUUID(),
      p_booking_covers: 2,
      p_booking_status: status,
      p_consent: JSON.stringify(consent),
    });
  const bad = [
    { channel: "email", granted: true }, // not a list
    [{ channel: "sms", granted: false }], // not a grant
    [{ channel: "sms", granted: true }, { channel: "email" }], // one of them not a grant
  ];
  for (const [i, consent] of bad.entries()) {
    for (const status of ["confirmed", "cancelled"]) {
      for (const email of [`new.${i}.${status}@example.com`, "known@example.com"]) {
        await assertRejects(
          () => upsert(email, status, consent),
          (e: { code?: string }) => e.code === "PT400", // answered 400 invalid_request
          `${JSON.stringify(consent)}, ${status}, ${email}`,
        );
      }
    }
  }
  const [row] = await sql`
    select
      (select count(*)::int from public.customers where restaurant_id = ${restaurantId}) as guests,
      (select count(*)::int from public.customer_bookings where restaurant_id = ${restaurantId}) as bookings,
      (select count(*)::int from public.consent_events where restaurant_id = ${restaurantId}) as events`;
  assertEquals([row.guests, row.bookings, row.events], [1, 0, 0]);
});

Deno.test("a grant dated before the last withdrawal is history; at a tie the withdrawal wins, in either order", async () => {
  const restaurantId = await createRestaurant(sql);
  const email = "backdated@example.com";
  const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000).toISOString();
  const grantAt = (consentAt?: string) =>
    upsertCustomer(db, service, {
      restaurantId,
      email,
      marketingOptIn: true,
      booking: { id: crypto.randomUUID(), covers: 2 },
    }, { consentAt });
  // What the guest's flags must say: the latest event, a withdrawal first at a tie.
  const expectState = async (customerId: string, state: "granted" | "withdrawn", label: string) => {
    const [row] = await sql`
      select c.marketing_opt_in, e.action
      from public.customers c
      cross join lateral (
        select action from public.consent_events
        where customer_id = c.id and channel = 'email'
        order by occurred_at desc, action desc limit 1
      ) e
      where c.id = ${customerId}`;
    assertEquals([row.marketing_opt_in, row.action], [
      state === "granted",
      state === "granted" ? "grant" : "withdraw",
    ], label);
  };

  const firstAt = hoursAgo(2);
  const first = await grantAt(firstAt);
  const id = first.customer.id;
  const optInAt = first.profile.marketingOptInAt;
  assertEquals(new Date(optInAt!).getTime(), new Date(firstAt).getTime(), "opted in when given");
  await expectState(id, "granted", "first grant");

  const off = await consent(restaurantId, id, "email", false);
  await expectState(id, "withdrawn", "withdrawn");
  const [{ at: withdrawnAt }] = await sql`
    select occurred_at as at from public.consent_events
    where customer_id = ${id} and action = 'withdraw'`;

  const backdated = await grantAt(hoursAgo(1));
  assertEquals(
    [
      backdated.consent.email.state,
      backdated.customer.marketingOptIn,
      backdated.profile.marketingOptInAt,
    ],
    ["withdrawn", false, optInAt],
    "a grant older than the withdrawal is kept as history only",
  );
  const tied = await grantAt((withdrawnAt as Date).toISOString());
  assertEquals([tied.consent.email.state, tied.customer.marketingOptIn], ["withdrawn", false]);
  await expectState(id, "withdrawn", "a grant at the withdrawal's time");
  assertEquals((await events(id)).length, 4, "both late grants are in the history");
  assertEquals(off.profile.marketingOptInAt, optInAt);

  const again = await grantAt();
  assertEquals([again.consent.email.state, again.customer.marketingOptIn], ["granted", true]);
  assertEquals(again.profile.marketingOptInAt, optInAt, "the first opt-in time is kept");
  await expectState(id, "granted", "granted again");

  // Events in one transaction share its time: the withdrawal wins whether
  // it comes after the grant or before it.
  const record = (tx: postgres.TransactionSql, grant: boolean, wording: string | null) =>
    tx`select private.record_consent(${restaurantId}, ${id}, 'email', ${grant}, 'staff', 'service', ${wording})`;
  await sql.begin(async (tx) => {
    await record(tx, true, "one");
    await record(tx, false, null);
  });
  await expectState(id, "withdrawn", "a withdrawal after a grant of the same time");
  await sql.begin(async (tx) => {
    await record(tx, true, "two");
    await record(tx, false, null);
    await record(tx, true, "three");
  });
  await expectState(id, "withdrawn", "a grant after a withdrawal of the same time");
  assertEquals((await events(id)).length, 10);
  await sql.begin(async (tx) => {
    await record(tx, true, "four");
  });
  await expectState(id, "granted", "a later grant");
});

Deno.test("a grant dated in the future is taken as now: a later withdrawal still wins", async () => {
  const restaurantId = await createRestaurant(sql);
  const g = await upsertCustomer(db, service, {
    restaurantId,
    email: "future@example.com",
    marketingOptIn: true,
    booking: { id: crypto.randomUUID(), covers: 2 },
  }, { consentAt: "2099-01-01T00:00:00Z" });
  assertEquals(g.consent.email.state, "granted");
  const off = await consent(restaurantId, g.customer.id, "email", false);
  assertEquals([off.recorded, off.consent.email.state, off.customer.marketingOptIn], [
    true,
    "withdrawn",
    false,
  ]);
});

Deno.test("marketable_customers lists granted guests of the channel only, never a withdrawn one", async () => {
  const restaurantId = await createRestaurant(sql);
  const ids: string[] = [];
  for (const [i, optIn] of [true, true, false].entries()) {
    ids.push(
      (await upsertCustomer(db, service, {
        restaurantId,
        email: `m${i}@example.com`,
        marketingOptIn: optIn,
      })).customer.id,
    );
  }
  await consent(restaurantId, ids[1], "email", false);
  const list = await sql`
    select customer_id, contact from private.marketable_customers(${
    sql.json(service as never)
  }, ${restaurantId}, 'email')`;
  assertEquals(list.map((r) => [r.customer_id, r.contact]), [[ids[0], "m0@example.com"]]);
  const sms = await sql`select * from private.marketable_customers(${
    sql.json(service as never)
  }, ${restaurantId}, 'sms')`;
  assertEquals(sms.length, 0);
});

Deno.test("upgrade: today's opt-ins and withdrawals become the first consent events", async () => {
  await withDatabaseBefore("20261126120000_consent.sql", async ({ sql: old, call, upgrade }) => {
    const [{ id: rid }] = await old`
      insert into public.restaurants (name, phone_region) values ('Old', 'GB') returning id`;
    const upsert = async (email: string, optIn: boolean) =>
      ((await call("customers_upsert", {
        p_claims: claims.service,
        p_restaurant_id: rid,
        p_email_normalized: email,
        p_marketing_opt_in: optIn,
      })) as Body[])[0].customers_upsert.customer.id as string;
    const kept = await upsert("kept@example.com", true);
    const withdrawn = await upsert("withdrawn@example.com", true);
    const never = await upsert("never@example.com", false);
    const regranted = await upsert("regranted@example.com", true);
    const consentOf = (id: string, optIn: boolean) =>
      call("set_marketing_consent", {
        p_claims: claims.service,
        p_restaurant_id: rid,
        p_customer_id: id,
        p_opt_in: optIn,
      });
    await consentOf(withdrawn, false);
    await consentOf(regranted, false);
    await consentOf(regranted, true);

    await upgrade();
    const history = await old`
      select customer_id, channel, action, source from public.consent_events
      order by customer_id, occurred_at`;
    assert(history.every((e) => e.source === "import"));
    const of = (id: string) => history.filter((e) => e.customer_id === id).map((e) => e.action);
    assertEquals([of(kept), of(withdrawn), of(never), of(regranted)], [
      ["grant"],
      ["grant", "withdraw"],
      [],
      ["grant", "withdraw", "grant"],
    ]);
    const states = await old`
      select c.id, c.marketing_opt_in, private.consent_json(c.id) -> 'email' ->> 'state' as state
      from public.customers c`;
    for (const s of states) {
      assertEquals(s.marketing_opt_in, s.state === "granted", s.id);
    }
  });
});
