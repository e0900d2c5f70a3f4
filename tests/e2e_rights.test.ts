// Guest look-up, subject-access export and erasure over HTTP, as an app and
// a restaurant's managers would call them: who may, what each answers, and
// that an erased guest leaves no personal datum anywhere (every text and
// jsonb column of our schemas, and the server's logs) while the
// restaurant's totals stay exactly as they were.
import { assert, assertEquals } from "./assert.ts";
import {
  adminSql,
  type Body,
  type Caller,
  callWith,
  type Server,
  type Sql,
  startStage,
} from "./helpers.ts";

let server: Server;
let sql: Sql;
let restaurantId: string;
let tokens: Record<Caller, string>;

Deno.test.beforeAll(async () => {
  ({ server, restaurantId, tokens } = await startStage());
});
Deno.test.afterAll(async () => {
  await server?.stop();
});
Deno.test.beforeEach(() => {
  sql = adminSql();
});
Deno.test.afterEach(() => sql.end({ timeout: 1 }));

const call = (fn: string, body: unknown, who: Caller = "service") =>
  callWith(server.url, tokens[who], fn, body);

/** Every text and jsonb column of every table of ours holding any needle, in any case. */
async function columnsHolding(needles: string[]): Promise<string[]> {
  const columns = await sql`
    select c.table_schema, c.table_name, c.column_name from information_schema.columns c
    join information_schema.tables t using (table_schema, table_name)
    where c.table_schema in ('public', 'private') and t.table_type = 'BASE TABLE'
      and c.data_type in ('text', 'jsonb', 'json', 'character varying')`;
  assert(columns.length > 10);
  const holding: string[] = [];
  for (const c of columns) {
    // Identifiers from the catalog, quoted; the needles are bind parameters.
    const [{ n }] = await sql.unsafe(
      `select count(*)::int as n from "${c.table_schema}"."${c.table_name}"
       where lower("${c.column_name}"::text) like any ($1)`,
      [needles.map((s) => `%${s}%`)],
    );
    if (n) holding.push(`${c.table_schema}.${c.table_name}.${c.column_name}`);
  }
  return holding;
}

/** A guest with past and (optionally) future bookings, one cancelled, all through the functions. */
async function guest(tag: string, future = false) {
  const email = `${tag}@example.com`;
  const bookings = [
    { id: crypto.randomUUID(), covers: 2, startsAt: "2026-01-10T19:00:00Z" },
    { id: crypto.randomUUID(), covers: 4, startsAt: "2026-02-10T19:00:00Z" },
    ...(future ? [{ id: crypto.randomUUID(), covers: 3, startsAt: "2099-01-01T19:00:00Z" }] : []),
  ];
  const phone = `+44 7912 ${String(Math.floor(Math.random() * 1e6)).padStart(6, "0")}`;
  let last: Body = {};
  for (const booking of bookings) {
    const r = await call("customers-upsert", {
      restaurantId,
      name: `Guest ${tag}`,
      email: email.toUpperCase(),
      phone,
      marketingOptIn: true,
      booking,
    });
    assertEquals(r.status, 200, JSON.stringify(r.body));
    last = r.body;
  }
  await call("customer-cancel", {
    restaurantId,
    bookingId: bookings[1].id,
    customerId: last.customer.id,
  });
  return { id: last.customer.id as string, email, phone: last.customer.phone as string, bookings };
}

Deno.test("lookup finds a guest by id, email or phone as the upsert normalizes them, and never writes", async () => {
  const g = await guest(`look.${crypto.randomUUID().slice(0, 8)}`);
  const [{ n: before }] = await sql`select count(*)::int as n from public.customers`;
  const national = "0" + g.phone.slice(3);
  for (
    const [by, expected] of [
      [{ customerId: g.id }, "id"],
      [{ email: ` ${g.email.toUpperCase()} ` }, "email"],
      [{ phone: national }, "phone"],
      [{ email: g.email, phone: g.phone }, "email_and_phone"],
    ] as const
  ) {
    const r = await call("customer-lookup", { restaurantId, ...by }, "staff");
    assertEquals([r.status, r.body.customer.id, r.body.matchedBy], [200, g.id, expected]);
    assertEquals(r.body.profile.totalBookings, 2);
  }
  const missing = await call("customer-lookup", { restaurantId, email: "nobody@example.com" });
  assertEquals([missing.status, missing.body.error.code], [404, "customer_not_found"]);
  const bad = await call("customer-lookup", { restaurantId });
  assertEquals([bad.status, bad.body.error.code], [400, "invalid_request"]);
  const foreign = await call("customer-lookup", { restaurantId, customerId: g.id }, "stranger");
  assertEquals(foreign.status, 403);
  const [{ n: after }] = await sql`select count(*)::int as n from public.customers`;
  assertEquals(after, before, "look-up created nobody");
});

Deno.test("export: everything held about one guest, for owners, managers and the service only", async () => {
  const g = await guest(`exp.${crypto.randomUUID().slice(0, 8)}`);
  const other = await guest(`other.${crypto.randomUUID().slice(0, 8)}`);
  for (const who of ["service", "owner", "manager"] as const) {
    const r = await call("customer-export", { restaurantId, customerId: g.id }, who);
    assertEquals(r.status, 200, who);
    assertEquals(r.body.customer.email, g.email);
    assertEquals(r.body.contacts.emails.map((e: Body) => e.email), [g.email]);
    assertEquals(r.body.bookings.map((b: Body) => b.id).sort(), g.bookings.map((b) => b.id).sort());
    assertEquals(r.body.bookings.map((b: Body) => b.status).sort(), ["cancelled", "confirmed"]);
    assertEquals(r.body.erasure, null);
    assert(r.body.exportedAt);
    const text = JSON.stringify(r.body);
    assert(!text.includes(other.email) && !text.includes(other.id), "another guest's data");
  }
  for (const who of ["staff", "stranger"] as const) {
    const r = await call("customer-export", { restaurantId, customerId: g.id }, who);
    assertEquals([r.status, r.body.error.code], [403, "forbidden"], who);
  }
  const unknown = await call("customer-export", { restaurantId, customerId: crypto.randomUUID() });
  assertEquals(unknown.status, 404);
});

Deno.test("erase: nothing personal is left anywhere, and every total stays as it was", async () => {
  const tag = `Erase.Me.${crypto.randomUUID().slice(0, 8)}`;
  const g = await guest(tag.toLowerCase(), true);
  const name = `Guest ${tag.toLowerCase()}`;
  // The host's own row for one of the bookings, with the guest's details.
  await sql`
    insert into public.bookings (id, restaurant_id, customer_id, customer_name, customer_email,
      customer_phone, party_size, start_at, status)
    values (${g.bookings[0].id}, ${restaurantId}, ${g.id}, ${name}, ${g.email}, ${g.phone}, 2,
      '2026-01-10T19:00:00Z', 'completed')`;
  const totals = async () =>
    (await sql`
      select sum(total_bookings)::int as bookings, sum(total_covers)::int as covers,
        sum(total_cancellations)::int as cancellations
      from public.customer_profiles where restaurant_id = ${restaurantId}`)[0];
  const before = await totals();
  const needles = [g.email, g.phone, g.phone.slice(3), name, tag].map((s) => s.toLowerCase());
  const held = await columnsHolding(needles);
  for (const column of ["public.customers.email_normalized", "public.bookings.customer_name"]) {
    assert(held.includes(column), `the scan sees ${column} before the erasure`);
  }

  const staff = await call("customer-erase", { restaurantId, customerId: g.id }, "staff");
  assertEquals(staff.status, 403);
  const future = await call("customer-erase", { restaurantId, customerId: g.id }, "manager");
  assertEquals([future.status, future.body.error.code], [409, "has_future_bookings"]);
  const erased = await call(
    "customer-erase",
    { restaurantId, customerId: g.id, reason: "guest_request", force: true },
    "owner",
  );
  assertEquals([erased.status, erased.body.erased], [200, true]);
  assertEquals(
    [erased.body.customer.name, erased.body.customer.email, erased.body.customer.phone],
    [null, null, null],
  );
  assert(erased.body.customer.erasedAt);
  assertEquals(
    [erased.body.consent.email.state, erased.body.consent.email.source],
    ["withdrawn", "erasure"],
    "an erased guest is withdrawn from every channel it had granted",
  );
  assertEquals(await totals(), before, "the restaurant's numbers did not move");
  const again = await call("customer-erase", { restaurantId, customerId: g.id }, "owner");
  assertEquals([again.status, again.body.erased], [200, false]);

  // Look-up by the old contacts finds nothing; a new booking makes a new guest.
  const looked = await call("customer-lookup", { restaurantId, email: g.email });
  assertEquals(looked.status, 404);
  const byId = await call("customer-lookup", { restaurantId, customerId: g.id });
  assertEquals(byId.status, 404);
  const exported = await call("customer-export", { restaurantId, customerId: g.id });
  assertEquals(exported.status, 200);
  assertEquals(exported.body.bookings.length, 3, "the anonymous facts stay");
  assertEquals(exported.body.erasure.reason, "guest_request");

  assertEquals(await columnsHolding(needles), []);
  const [erasure] = await sql`select * from public.customer_erasures where customer_id = ${g.id}`;
  assertEquals([erasure.actor_role, erasure.reason, erasure.forced], [
    "authenticated",
    "guest_request",
    true,
  ]);
  const logs = server.logs.join("\n").toLowerCase();
  for (const needle of needles) assert(!logs.includes(needle), "the logs hold a contact");

  const fresh = await call("customers-upsert", { restaurantId, email: g.email });
  assertEquals([fresh.status, fresh.body.created], [200, true]);
  assert(fresh.body.customer.id !== g.id, "no link to the erased guest");
});

Deno.test("erasure racing upserts of the same contacts: the upserts land on a new guest or before it", async () => {
  const g = await guest(`race.${crypto.randomUUID().slice(0, 8)}`);
  const [erase, ...upserts] = await Promise.all([
    call("customer-erase", { restaurantId, customerId: g.id, force: true }),
    ...Array.from({ length: 8 }, (_, i) =>
      call("customers-upsert", {
        restaurantId,
        email: g.email,
        booking: { id: crypto.randomUUID(), covers: 1 + i },
      })),
  ]);
  assertEquals(erase.status, 200);
  assertEquals(upserts.map((u) => u.status), upserts.map(() => 200));
  const [{ n }] = await sql`
    select count(*)::int as n from public.customers
    where restaurant_id = ${restaurantId} and email_normalized = ${g.email}`;
  assert(n <= 1, "at most one live guest holds the email");
  const [tomb] =
    await sql`select email_normalized, erased_at from public.customers where id = ${g.id}`;
  assertEquals(tomb.email_normalized, null);
  assert(tomb.erased_at);
  const [{ drifted }] = await sql`
    select count(*)::int as drifted from private.profile_drift(${restaurantId})`;
  assertEquals(drifted, 0);
});
