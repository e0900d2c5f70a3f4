// End to end: the real functions server (scripts/serve.ts) as its own
// process, called over HTTP with supabase-js `functions.invoke` and fetch.
import { createClient, FunctionRegion, FunctionsHttpError } from "@supabase/supabase-js";
import { corsHeaders } from "@supabase/supabase-js/cors";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { DEFAULT_DEADLINES } from "../scripts/deadlines.ts";
import { assert, assertEquals } from "./assert.ts";
import { b64url } from "../scripts/lib/jwt.ts";
import {
  addStaff,
  adminSql,
  createRestaurant,
  PUBLISHABLE_KEY,
  SECRET_KEY,
  type Server,
  signToken,
  type Sql,
  startServer,
} from "./helpers.ts";

const rsa = await generateKeyPair("RS256", { extractable: true });
const ec = await generateKeyPair("ES256", { extractable: true });
const jwks = {
  keys: [
    { ...(await exportJWK(rsa.publicKey)), kid: "rsa-1", alg: "RS256", use: "sig" },
    { ...(await exportJWK(ec.publicKey)), kid: "ec-1", alg: "ES256", use: "sig" },
  ],
};

/** Every kind of caller the tests play, for one restaurant's staff and another's. */
async function makeTokens(staffId: string, otherStaffId: string) {
  return {
    service: await signToken({ role: "service_role" }),
    staff: await signToken({ role: "authenticated", sub: staffId }),
    otherStaff: await signToken({ role: "authenticated", sub: otherStaffId }),
    anon: await signToken({ role: "anon" }),
    expired: await signToken({ role: "service_role" }, {
      expiresIn: Math.floor(Date.now() / 1000) - 3600,
    }),
    badSignature: await signToken({ role: "service_role" }, {
      secret: "another-secret-that-is-at-least-32-chars!!",
    }),
    wrongIssuer: await signToken({ role: "service_role" }, {
      issuer: "https://evil.example/auth/v1",
    }),
    algNone: `${b64({ alg: "none", typ: "JWT" })}.${
      b64({ role: "service_role", iss: "supabase-demo", exp: 4102444800 })
    }.`,
    rs256: await new SignJWT({ role: "authenticated", sub: staffId })
      .setProtectedHeader({ alg: "RS256", kid: "rsa-1" }).setIssuer("supabase").setExpirationTime(
        "1h",
      )
      .sign(rsa.privateKey),
    es256: await new SignJWT({ role: "service_role" })
      .setProtectedHeader({ alg: "ES256", kid: "ec-1" }).setIssuer("supabase").setExpirationTime(
        "1h",
      )
      .sign(ec.privateKey),
    // Signed with a key nobody published.
    rs256Unknown: await new SignJWT({ role: "service_role" })
      .setProtectedHeader({ alg: "RS256", kid: "rsa-1" }).setIssuer("supabase").setExpirationTime(
        "1h",
      )
      .sign((await generateKeyPair("RS256")).privateKey),
    // HS/RS confusion: an HS256 token whose "secret" is the public RSA key.
    confused: await new SignJWT({ role: "service_role" })
      .setProtectedHeader({ alg: "HS256" }).setIssuer("supabase").setExpirationTime("1h")
      .sign(new TextEncoder().encode(JSON.stringify(jwks.keys[0]))),
  };
}

// One server and two restaurants for the whole file; a pool per test.
let server: Server;
let restaurantId: string;
let otherRestaurantId: string;
let tokens: Awaited<ReturnType<typeof makeTokens>>;
let sql: Sql;

Deno.test.beforeAll(async () => {
  server = await startServer({ SUPABASE_JWKS: JSON.stringify(jwks) });
  const setup = adminSql();
  try {
    restaurantId = await createRestaurant(setup, { region: "GB" });
    otherRestaurantId = await createRestaurant(setup, { region: "US" });
    tokens = await makeTokens(
      await addStaff(setup, restaurantId),
      await addStaff(setup, otherRestaurantId),
    );
  } finally {
    await setup.end({ timeout: 1 });
  }
});
Deno.test.afterAll(async () => {
  await server?.stop();
});
Deno.test.beforeEach(() => {
  sql = adminSql();
});
Deno.test.afterEach(() => sql.end({ timeout: 1 }));

/** A JSON segment of a hand-made JWT. */
const b64 = (value: unknown) => b64url(JSON.stringify(value));

/** supabase-js as an app would use it; the token replaces the anon key's Authorization. */
function client(token?: string, key = "anon-key-not-used") {
  return createClient(server.url, key, {
    auth: { persistSession: false, autoRefreshToken: false },
    global: token ? { headers: { Authorization: `Bearer ${token}` } } : {},
  });
}

async function invoke(name: string, body: unknown, token?: string, key?: string) {
  const { data, error } = await client(token, key).functions.invoke(name, { body: body as object });
  if (error instanceof FunctionsHttpError) {
    const response = error.context as Response;
    return { status: response.status, body: await response.json(), headers: response.headers };
  }
  if (error) throw error;
  return { status: 200, body: data, headers: new Headers() };
}

async function post(
  name: string,
  init: RequestInit & { token?: string | null } = {},
  base = server.url,
) {
  const headers = new Headers(init.headers);
  if (init.token !== null) headers.set("authorization", `Bearer ${init.token ?? tokens.service}`);
  if (!headers.has("content-type") && init.body !== undefined) {
    headers.set("content-type", "application/json");
  }
  const response = await fetch(`${base}/functions/v1/${name}`, {
    method: "POST",
    ...init,
    headers,
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text ? JSON.parse(text) : null,
  };
}

async function tableCounts() {
  const [row] = await sql`
    select (select count(*) from public.customers)::int as customers,
      (select count(*) from public.customer_bookings)::int as events,
      (select sum(total_bookings + total_cancellations) from public.customer_profiles)::int as counters`;
  return row;
}

function assertErrorShape(body: { error?: { code?: unknown; message?: unknown } }, code: string) {
  assert(body.error, `no error object: ${JSON.stringify(body)}`);
  assertEquals(body.error.code, code);
  assert(typeof body.error.message === "string" && body.error.message.length > 0);
}

Deno.test("customers-upsert via supabase.functions.invoke returns the documented shape", async () => {
  const bookingId = crypto.randomUUID();
  const r = await invoke("customers-upsert", {
    restaurantId,
    name: "Ada Lovelace",
    email: "  Ada@Example.COM ",
    phone: "020 7946 0958",
    marketingOptIn: true,
    booking: { id: bookingId, covers: 4, startsAt: "2026-12-24T19:30:00+01:00" },
  }, tokens.service);
  assertEquals(r.status, 200);
  const { customer, profile } = r.body;
  assertEquals(Object.keys(r.body).sort(), [
    "bookingApplied",
    "bookingRecorded",
    "conflict",
    "consent",
    "contactsAdded",
    "contactsNotSaved",
    "created",
    "customer",
    "matchedBy",
    "profile",
  ]);
  assertEquals(Object.keys(customer).sort(), [
    "createdAt",
    "email",
    "emails",
    "erasedAt",
    "id",
    "marketingOptIn",
    "name",
    "phone",
    "phones",
    "restaurantId",
    "updatedAt",
  ]);
  assertEquals(Object.keys(profile).sort(), [
    "firstBookingAt",
    "lastBookingAt",
    "lastVisitAt",
    "marketingOptInAt",
    "totalBookings",
    "totalCancellations",
    "totalCovers",
    "totalLateCancellations",
    "totalNoShows",
    "totalVisits",
  ]);
  assertEquals([customer.email, customer.phone, customer.name], [
    "ada@example.com",
    "+442079460958",
    "Ada Lovelace",
  ]);
  assertEquals([r.body.created, r.body.matchedBy, r.body.conflict, r.body.bookingRecorded], [
    true,
    null,
    null,
    true,
  ]);
  assertEquals([profile.totalBookings, profile.totalCovers], [1, 4]);
  assertEquals(new Date(profile.firstBookingAt).toISOString(), "2026-12-24T18:30:00.000Z");

  const replay = await invoke("customers-upsert", {
    restaurantId,
    email: "ada@example.com",
    phone: "+44 20 7946 0958",
    booking: { id: bookingId, covers: 4 },
  }, tokens.staff);
  assertEquals(replay.status, 200);
  assertEquals([replay.body.created, replay.body.matchedBy, replay.body.bookingRecorded], [
    false,
    "email_and_phone",
    false,
  ]);
  assertEquals(replay.body.profile.totalBookings, 1);
  assertEquals(replay.body.customer.marketingOptIn, true);
});

Deno.test("customer-cancel records once; unknown customer and restaurant are 404", async () => {
  const bookingId = crypto.randomUUID();
  await invoke("customers-upsert", {
    restaurantId,
    email: "cancel@example.com",
    booking: { id: bookingId, covers: 2 },
  }, tokens.service);
  const first = await invoke("customer-cancel", {
    restaurantId,
    bookingId,
    email: "Cancel@example.com",
  }, tokens.staff);
  assertEquals(first.status, 200);
  assertEquals(Object.keys(first.body).sort(), [
    "cancellationRecorded",
    "consent",
    "customer",
    "profile",
  ]);
  assertEquals([first.body.cancellationRecorded, first.body.profile.totalCancellations], [true, 1]);
  const again = await invoke("customer-cancel", {
    restaurantId,
    bookingId,
    customerId: first.body.customer.id,
  }, tokens.service);
  assertEquals([
    again.status,
    again.body.cancellationRecorded,
    again.body.profile.totalCancellations,
  ], [200, false, 1]);

  const unknown = await invoke("customer-cancel", {
    restaurantId,
    bookingId: crypto.randomUUID(),
    email: "nobody@example.com",
  }, tokens.service);
  assertEquals(unknown.status, 404);
  assertErrorShape(unknown.body, "customer_not_found");
  const noRestaurant = await invoke("customers-upsert", {
    restaurantId: crypto.randomUUID(),
    email: "x@example.com",
  }, tokens.service);
  assertEquals(noRestaurant.status, 404);
  assertErrorShape(noRestaurant.body, "restaurant_not_found");
});

Deno.test("auth matrix: who may call, and the exact status for everyone else", async () => {
  const body = () => ({ restaurantId, email: `auth-${crypto.randomUUID()}@example.com` });
  const cases: Array<[string, string | undefined, string | undefined, number, string?]> = [
    ["no token", undefined, undefined, 401, "unauthorized"],
    ["malformed", "not-a-jwt", undefined, 401, "unauthorized"],
    ["expired", tokens.expired, undefined, 401, "unauthorized"],
    ["bad signature", tokens.badSignature, undefined, 401, "unauthorized"],
    ["wrong issuer", tokens.wrongIssuer, undefined, 401, "unauthorized"],
    ["alg none", tokens.algNone, undefined, 401, "unauthorized"],
    ["HS/RS confusion", tokens.confused, undefined, 401, "unauthorized"],
    ["unknown RS256 key", tokens.rs256Unknown, undefined, 401, "unauthorized"],
    ["unknown secret key", undefined, "sb_secret_not_a_real_key_000000000000", 401, "unauthorized"],
    ["anon", tokens.anon, undefined, 403, "forbidden"],
    ["publishable key", undefined, PUBLISHABLE_KEY, 403, "forbidden"],
    ["staff of another restaurant", tokens.otherStaff, undefined, 403, "forbidden"],
    ["staff", tokens.staff, undefined, 200],
    ["staff via RS256 + JWKS", tokens.rs256, undefined, 200],
    ["service role via ES256 + JWKS", tokens.es256, undefined, 200],
    ["service role", tokens.service, undefined, 200],
    ["secret key", undefined, SECRET_KEY, 200],
  ];
  for (const [label, token, key, status, code] of cases) {
    for (const fn of ["customers-upsert", "customer-cancel"]) {
      const payload = fn === "customers-upsert"
        ? body()
        : { restaurantId, bookingId: crypto.randomUUID(), email: "ada@example.com" };
      const r = await invoke(fn, payload, token, key);
      assertEquals(r.status, status, `${label} → ${fn}: ${JSON.stringify(r.body)}`);
      if (code) assertErrorShape(r.body, code);
    }
  }
  const raw = await post("customers-upsert", {
    token: null,
    headers: { apikey: SECRET_KEY },
    body: JSON.stringify(body()),
  });
  assertEquals(raw.status, 200, "secret key in the apikey header alone");
  const noAuth = await post("customers-upsert", { token: null, body: JSON.stringify(body()) });
  assertEquals(noAuth.headers.get("www-authenticate"), 'Bearer realm="functions"');
});

Deno.test("staff of another restaurant cannot reach this restaurant's customer or booking", async () => {
  const bookingId = crypto.randomUUID();
  const mine = await invoke("customers-upsert", {
    restaurantId,
    email: "private@example.com",
    booking: { id: bookingId, covers: 2 },
  }, tokens.staff);
  const byId = await invoke("customer-cancel", {
    restaurantId,
    bookingId,
    customerId: mine.body.customer.id,
  }, tokens.otherStaff);
  assertEquals(byId.status, 403);
  assert(!JSON.stringify(byId.body).includes("private@example.com"));
  // Naming the customer under their own restaurant: it is not theirs.
  const underOwn = await invoke("customer-cancel", {
    restaurantId: otherRestaurantId,
    bookingId,
    customerId: mine.body.customer.id,
  }, tokens.otherStaff);
  assertEquals(underOwn.status, 404);
  assertErrorShape(underOwn.body, "customer_not_found");
  const [p] =
    await sql`select total_cancellations from public.customer_profiles where customer_id = ${mine.body.customer.id}`;
  assertEquals(p.total_cancellations, 0);
});

Deno.test("error table: every client mistake is a 4xx JSON error and changes nothing", async () => {
  const before = await tableCounts();
  const cases: Array<[string, RequestInit & { token?: string | null }, number, string]> = [
    ["truncated JSON", { body: '{"restaurantId": "' }, 400, "invalid_json"],
    ["empty body", { body: "" }, 400, "invalid_json"],
    [
      "invalid UTF-8",
      { body: new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]) },
      400,
      "invalid_json",
    ],
    ["array body", { body: "[]" }, 400, "invalid_request"],
    ["no contact", { body: JSON.stringify({ restaurantId }) }, 400, "invalid_request"],
    ["bad phone", { body: JSON.stringify({ restaurantId, phone: "12" }) }, 400, "invalid_request"],
    [
      "bad email",
      { body: JSON.stringify({ restaurantId, email: "no-at-sign" }) },
      400,
      "invalid_request",
    ],
    [
      "covers 0",
      {
        body: JSON.stringify({
          restaurantId,
          email: "a@b.co",
          booking: { id: crypto.randomUUID(), covers: 0 },
        }),
      },
      400,
      "invalid_request",
    ],
    [
      "NUL in name",
      { body: JSON.stringify({ restaurantId, email: "a@b.co", name: "a\u0000b" }) },
      400,
      "invalid_request",
    ],
    [
      "text/plain",
      { body: "{}", headers: { "content-type": "text/plain" } },
      415,
      "unsupported_media_type",
    ],
    [
      "over 64 KiB",
      { body: JSON.stringify({ restaurantId, name: "x".repeat(70_000) }) },
      413,
      "payload_too_large",
    ],
  ];
  for (const [label, init, status, code] of cases) {
    const r = await post("customers-upsert", init);
    assertEquals(r.status, status, `${label}: ${JSON.stringify(r.body)}`);
    assertErrorShape(r.body, code);
  }
  const unknown = await post("customers-upsert", {
    body: JSON.stringify({ restaurantId, email: "a@b.co", emial: "typo", extra: 1 }),
  });
  assertEquals(unknown.status, 400);
  assertEquals(
    unknown.body.error.details.map((d: { path: string }) => d.path).sort(),
    ["emial", "extra"],
  );
  const fields = await post("customer-cancel", {
    body: JSON.stringify({ restaurantId: "nope", bookingId: 5 }),
  });
  assertEquals(fields.status, 400);
  assertEquals(fields.body.error.details.map((d: { path: string }) => d.path).sort(), [
    "bookingId",
    "restaurantId",
  ]);
  assertEquals(await tableCounts(), before);
});

Deno.test("methods and CORS", async () => {
  const preflight = await fetch(`${server.url}/functions/v1/customers-upsert`, {
    method: "OPTIONS",
    headers: { origin: "https://app.example", "access-control-request-method": "POST" },
  });
  await preflight.body?.cancel();
  assertEquals(preflight.status, 204);
  const allowed = (preflight.headers.get("access-control-allow-headers") ?? "").split(/,\s*/);
  // Every header supabase-js sends, as its own list gives them, and x-region,
  // which `invoke(…, { region })` sends although that list lacks it.
  const sent = corsHeaders["Access-Control-Allow-Headers"].split(/,\s*/);
  for (
    const h of ["authorization", "x-client-info", "apikey", "content-type", ...sent, "x-region"]
  ) {
    assert(allowed.includes(h), h);
  }
  const { data, error } = await client(tokens.service).functions.invoke("customers-upsert", {
    body: { restaurantId, email: "region@example.com" },
    region: FunctionRegion.EuWest1,
  });
  assertEquals(error, null);
  assertEquals(data.customer.email, "region@example.com");
  assertEquals(preflight.headers.get("access-control-allow-origin"), "*");
  for (const method of ["GET", "PUT", "DELETE", "PATCH"]) {
    const r = await fetch(`${server.url}/functions/v1/customer-cancel`, { method });
    const body = await r.json();
    assertEquals(r.status, 405);
    assertEquals(r.headers.get("allow"), "POST, OPTIONS");
    assertErrorShape(body, "method_not_allowed");
  }
});

Deno.test("Database Webhooks: every INSERT and UPDATE applies the row's snapshot, newest wins", async () => {
  const rowSql = (update: string) =>
    sql.unsafe(update + " returning to_jsonb(bookings.*) as record");
  const [booking] = await sql`
    insert into public.bookings (restaurant_id, customer_name, customer_email, customer_phone, party_size, start_at, status, marketing_opt_in)
    values (${restaurantId}, 'Webhook Guest', 'Hook@Example.com', '07912 345690', 3, '2026-12-31T20:00:00Z', 'confirmed', true)
    returning to_jsonb(bookings.*) as record`;
  const record = booking.record;
  const hook = (type: string, rec: unknown, old: unknown = null) => ({
    type,
    table: "bookings",
    schema: "public",
    record: rec,
    old_record: old,
  });
  const insert = hook("INSERT", record);
  const first = await invoke("customers-upsert", insert, tokens.service);
  assertEquals(first.status, 200);
  assertEquals([first.body.bookingRecorded, first.body.customer.email, first.body.customer.phone], [
    true,
    "hook@example.com",
    "+447912345690",
  ]);
  const [linked] = await sql`select customer_id from public.bookings where id = ${record.id}`;
  assertEquals(
    linked.customer_id,
    first.body.customer.id,
    "the host's booking is linked to its customer",
  );
  const duplicate = await invoke("customers-upsert", insert, tokens.service);
  assertEquals([
    duplicate.status,
    duplicate.body.bookingRecorded,
    duplicate.body.bookingApplied,
    duplicate.body.profile.totalBookings,
  ], [200, false, false, 1]);

  // Each function takes each event; the row's updated_at is the version.
  const [resized] = await rowSql(
    `update public.bookings set party_size = 6 where id = '${record.id}'`,
  );
  const resize = hook("UPDATE", resized.record, record);
  const [cancelledRow] = await rowSql(
    `update public.bookings set status = 'cancelled' where id = '${record.id}'`,
  );
  const cancel = hook("UPDATE", cancelledRow.record, resized.record);
  const cancelled = await invoke("customer-cancel", cancel, tokens.service);
  assertEquals(
    [cancelled.status, cancelled.body.bookingApplied, cancelled.body.profile.totalCovers],
    [200, true, 6],
    "the cancellation's snapshot carries the new party size too",
  );
  assertEquals(cancelled.body.profile.totalCancellations, 1);
  const late = await invoke("booking-update", resize, tokens.service);
  assertEquals(
    [late.body.bookingApplied, late.body.profile.totalCancellations],
    [false, 1],
    "an older snapshot delivered late changes nothing",
  );
  const [reinstatedRow] = await rowSql(
    `update public.bookings set status = 'confirmed' where id = '${record.id}'`,
  );
  const reinstated = await invoke(
    "booking-update",
    hook("UPDATE", reinstatedRow.record, cancelledRow.record),
    tokens.service,
  );
  assertEquals(reinstated.body.profile.totalCancellations, 0);
  const [visitedRow] = await rowSql(
    `update public.bookings set status = 'completed' where id = '${record.id}'`,
  );
  const visited = await invoke(
    "customers-upsert",
    hook("UPDATE", visitedRow.record, reinstatedRow.record),
    tokens.service,
  );
  assertEquals(
    [visited.body.profile.totalVisits, new Date(visited.body.profile.lastVisitAt).toISOString()],
    [1, "2026-12-31T20:00:00.000Z"],
  );

  // The INSERT delivery of a new guest's booking was lost: its cancellation
  // alone records the booking and the cancellation.
  const [lost] = await sql`
    insert into public.bookings (restaurant_id, customer_name, customer_email, party_size, start_at, status)
    values (${restaurantId}, 'Lost Insert', 'lost.insert@example.com', 4, '2027-03-01T19:00:00Z', 'cancelled')
    returning to_jsonb(bookings.*) as record`;
  const orphan = await invoke(
    "booking-update",
    hook("UPDATE", lost.record, { ...lost.record, status: "confirmed" }),
    tokens.service,
  );
  assertEquals(orphan.status, 200, JSON.stringify(orphan.body));
  assertEquals(
    [
      orphan.body.bookingRecorded,
      orphan.body.profile.totalBookings,
      orphan.body.profile.totalCancellations,
    ],
    [true, 1, 1],
  );

  const ignoredCases: Array<[string, unknown]> = [
    ["customers-upsert", { ...insert, type: "DELETE", record: null, old_record: record }],
    ["customers-upsert", { ...insert, table: "restaurants" }],
    ["customers-upsert", {
      ...insert,
      record: { ...record, id: crypto.randomUUID(), customer_email: null, customer_phone: null },
    }],
    // Only a column the module does not read changed (the link it wrote).
    [
      "booking-update",
      hook("UPDATE", visitedRow.record, { ...visitedRow.record, customer_id: null }),
    ],
  ];
  for (const [fn, body] of ignoredCases) {
    const r = await invoke(fn, body, tokens.service);
    assertEquals(r.status, 200, JSON.stringify(r.body));
    assertEquals(r.body.ignored, true, `${fn} ${JSON.stringify(body).slice(0, 80)}`);
    assert(typeof r.body.reason === "string");
  }
  const fromStaff = await invoke("customers-upsert", insert, tokens.staff);
  assertEquals(fromStaff.status, 403);
  const badRecord = await invoke("customers-upsert", {
    ...insert,
    record: { ...record, party_size: "many" },
  }, tokens.service);
  assertEquals(badRecord.status, 400);
  assertEquals(badRecord.body.error.details[0].path, "record.party_size");
});

Deno.test("booking webhooks: the key is read from Vault as a trigger fires, and no catalog shows it", async () => {
  // pg_net and Vault, stood in for inside a transaction that is rolled back:
  // net.http_post records each request instead of sending it, and the Vault
  // view is a table only its owner may read, as on Supabase.
  type Captured = { url: string; headers: Record<string, string>; body: unknown };
  const rollback = new Error("rollback");
  let captured: Captured[] = [];
  let leaks: { place: string; name: string }[] = [];
  await sql.begin(async (tx) => {
    await tx.unsafe(`
      create schema net;
      create table net.sent (url text, body jsonb, headers jsonb);
      create function net.http_post(url text, body jsonb default '{}', params jsonb default '{}',
        headers jsonb default '{}', timeout_milliseconds integer default 5000) returns bigint
        language sql as $f$ insert into net.sent values (url, body, headers) returning 1::bigint $f$;
      create schema vault;
      create table vault.decrypted_secrets (name text primary key, decrypted_secret text);
      revoke all on schema net, vault from public;
      revoke all on all tables in schema net, vault from public;
    `);
    await tx`
      insert into vault.decrypted_secrets values
        ('customers_functions_url', ${server.url + "/functions/v1/"}),
        ('customers_service_key', ${SECRET_KEY})`;
    const [{ installed }] = await tx`select private.install_booking_webhooks() as installed`;
    assertEquals(installed, true);
    const [{ id }] = await tx`
      insert into public.bookings (restaurant_id, customer_email, party_size, start_at, status)
      values (${restaurantId}, 'trigger@example.com', 5, now() + interval '1 day', 'confirmed')
      returning id`;
    await tx`update public.bookings set party_size = 6 where id = ${id}`;
    await tx`update public.bookings set status = 'cancelled' where id = ${id}`;
    captured = await tx`select url, headers, body from net.sent` as never;
    // An erasure clears the host's row of the guest's details, and sends
    // nothing: no webhook carries the values it removes.
    const [{ r: guest }] = await tx`
      select private.customers_upsert(p_claims => ${sql.json({ role: "service_role" })},
        p_restaurant_id => ${restaurantId}, p_email_normalized => 'trigger@example.com',
        p_booking_id => ${id}, p_booking_covers => 6) as r`;
    await tx`
      select private.customer_erase(p_claims => ${sql.json({ role: "service_role" })},
        p_restaurant_id => ${restaurantId}, p_customer_id => ${guest.customer.id}, p_force => true)`;
    const [{ sent, cleared }] = await tx`
      select (select count(*) from net.sent)::int as sent,
        (select customer_email is null from public.bookings where id = ${id}) as cleared`;
    assertEquals([sent, cleared], [captured.length, true]);
    const [{ vault }] = await tx`select 'vault.decrypted_secrets'::regclass::oid as vault`;
    // Everything an API role can read of the catalog: trigger arguments and
    // definitions, function bodies and settings, views, defaults, comments.
    await tx`set local role anon`;
    leaks = await tx`
      select 'trigger' as place, tgname::text as name from pg_trigger
      where position(${SECRET_KEY} in encode(tgargs, 'escape') || pg_get_triggerdef(oid)) > 0
      union all
      select 'function', proname::text from pg_proc
      where position(${SECRET_KEY} in coalesce(prosrc, '') || coalesce(array_to_string(proconfig, ' '), '')) > 0
      union all
      select 'view', viewname::text from pg_views where position(${SECRET_KEY} in definition) > 0
      union all
      select 'default', adrelid::regclass::text from pg_attrdef
      where position(${SECRET_KEY} in pg_get_expr(adbin, adrelid)) > 0
      union all
      select 'comment', objoid::text from pg_description where position(${SECRET_KEY} in description) > 0
    ` as never;
    const [{ readable }] = await tx`
      select has_table_privilege(${vault}::oid, 'select') as readable`;
    assertEquals(readable, false, "anon cannot read the Vault stand-in");
    throw rollback;
  }).catch((e) => {
    if (e !== rollback) throw e;
  });
  assertEquals([...leaks], []);
  assertEquals(captured.map((c) => c.url.replace(server.url, "")), [
    "/functions/v1/customers-upsert",
    "/functions/v1/booking-update",
    "/functions/v1/booking-update",
  ]);
  const results = [];
  for (const c of captured) {
    const r = await post(c.url.replace(`${server.url}/functions/v1/`, ""), {
      token: null,
      headers: c.headers,
      body: JSON.stringify(c.body),
    });
    results.push(r);
  }
  assertEquals(results.map((r) => r.status), [200, 200, 200]);
  assertEquals(results[0].body.bookingRecorded, true);
  assertEquals(results[1].body.profile.totalCovers, 6);
  assertEquals(results[2].body.profile.totalCancellations, 1);
  const [{ count }] =
    await sql`select count(*)::int from pg_trigger where tgname like 'customer%_on_booking_%'`;
  assertEquals(count, 0, "the stand-in transaction left nothing behind");
});

Deno.test("an unreachable database is a fast 503 with Retry-After", async () => {
  const down = await startServer({
    SUPABASE_DB_URL: "postgresql://postgres:postgres@127.0.0.1:1/postgres",
  });
  try {
    const started = performance.now();
    const r = await post("customers-upsert", {
      body: JSON.stringify({ restaurantId, email: "down@example.com" }),
    }, down.url);
    assert(performance.now() - started < 5000);
    assertEquals(r.status, 503);
    assertErrorShape(r.body, "unavailable");
    assert(Number(r.headers.get("retry-after")) > 0);
  } finally {
    await down.stop();
  }
});

Deno.test("credentials: a bearer that does not verify is 401 even beside the secret key; a user's JWT beside it acts as that user", async () => {
  const [header, , signature] = tokens.service.split(".");
  const tampered = `${header}.${
    b64({ role: "service_role", iss: "supabase-demo", exp: 4102444800, sub: "x" })
  }.${signature}`;
  const upsert = () => ({ restaurantId, email: `pair-${crypto.randomUUID()}@example.com` });
  // supabase-js with the secret key as its key and a token as the bearer:
  // `apikey: sb_secret_…` plus `Authorization: Bearer <token>`.
  const cases: Array<[string, string, number]> = [
    ["tampered JWT", tampered, 401],
    ["expired JWT", tokens.expired, 401],
    ["JWT with another secret", tokens.badSignature, 401],
    ["alg none", tokens.algNone, 401],
    ["not a JWT", "not-a-jwt", 401],
    ["anon JWT", tokens.anon, 403],
    ["staff of another restaurant", tokens.otherStaff, 403],
    ["staff", tokens.staff, 200],
  ];
  for (const [label, token, status] of cases) {
    const r = await invoke("customers-upsert", upsert(), token, SECRET_KEY);
    assertEquals(r.status, status, `${label} beside the secret key: ${JSON.stringify(r.body)}`);
  }
  // The staff member acts as staff, not as the service: webhooks stay closed to them.
  const hook = {
    type: "INSERT",
    table: "bookings",
    schema: "public",
    record: {
      id: crypto.randomUUID(),
      restaurant_id: restaurantId,
      customer_email: "pair.hook@example.com",
      party_size: 2,
      status: "confirmed",
    },
    old_record: null,
  };
  const asStaff = await invoke("customers-upsert", hook, tokens.staff, SECRET_KEY);
  assertEquals(asStaff.status, 403);
  assertErrorShape(asStaff.body, "forbidden");
  // An unknown secret key is refused even beside a valid JWT.
  const unknownKey = await post("customers-upsert", {
    token: tokens.service,
    headers: { apikey: "sb_secret_not_a_real_key_000000000000" },
    body: JSON.stringify(upsert()),
  });
  assertEquals(unknownKey.status, 401);
});

Deno.test("JWKS: forged kids do not cost a fetch each; an unreachable JWKS makes no token a 503", async () => {
  // A JWKS endpoint that answers 404 (e.g. SUPABASE_URL naming a server
  // without /auth/v1), counting its hits.
  let hits = 0;
  const jwksHost = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, () => {
    hits++;
    return new Response("not found", { status: 404 });
  });
  const attacker = await generateKeyPair("RS256");
  const forged = () =>
    new SignJWT({ role: "service_role" })
      .setProtectedHeader({ alg: "RS256", kid: crypto.randomUUID() })
      .setIssuer("supabase").setExpirationTime("1h").sign(attacker.privateKey);
  const junk = [
    `${b64({ alg: "RS256", kid: "x" })}.${b64({})}.c2ln`,
    `${b64({ alg: "ES256" })}.${b64({ role: "service_role", iss: "supabase" })}.c2ln`,
    `${b64({ alg: "RS256" })}.bm90IGpzb24.c2ln`,
  ];
  const missing = await startServer({
    SUPABASE_URL: `http://127.0.0.1:${jwksHost.addr.port}`,
    SUPABASE_JWKS: "",
  });
  // SUPABASE_URL's default in startServer is a closed port: unreachable.
  const unreachable = await startServer({ SUPABASE_JWKS: "" });
  try {
    const body = JSON.stringify({ restaurantId, email: "forged@example.com" });
    for (let i = 0; i < 50; i++) {
      const r = await post("customers-upsert", { token: await forged(), body }, missing.url);
      assertEquals(r.status, 401, JSON.stringify(r.body));
    }
    assert(hits <= 1, `50 forged tokens made ${hits} JWKS fetches`);
    for (const token of [...junk, await forged(), await forged()]) {
      const r = await post("customers-upsert", { token, body }, unreachable.url);
      assertEquals(r.status, 401, `${token.slice(0, 40)}: ${JSON.stringify(r.body)}`);
      assertErrorShape(r.body, "unauthorized");
    }
  } finally {
    await missing.stop();
    await unreachable.stop();
    await jwksHost.shutdown();
  }
});

Deno.test("validation messages say what is wrong; Required. only for a missing field", async () => {
  const booking = { id: crypto.randomUUID(), covers: 2 };
  const cases: Array<[Record<string, unknown>, string, string]> = [
    [
      { restaurantId, email: "a@b.co", booking: { ...booking, covers: "2" } },
      "booking.covers",
      "Expected a number.",
    ],
    [
      { restaurantId, email: "a@b.co", booking: { ...booking, covers: 2.5 } },
      "booking.covers",
      "Expected a whole number.",
    ],
    [{ restaurantId, email: "a@b.co", name: 123 }, "name", "Expected a string."],
    [
      { restaurantId, email: "a@b.co", marketingOptIn: "yes" },
      "marketingOptIn",
      "Expected true or false.",
    ],
    [{ restaurantId, email: "a@b.co", booking: "soon" }, "booking", "Expected an object."],
    [{ restaurantId, email: "a@b.co", booking: { covers: 2 } }, "booking.id", "Required."],
    [{ email: "a@b.co" }, "restaurantId", "Required."],
  ];
  for (const [body, path, message] of cases) {
    const r = await post("customers-upsert", { body: JSON.stringify(body) });
    assertEquals(r.status, 400);
    assertEquals(r.body.error.details, [{ path, message }], JSON.stringify(body));
  }
  // 64 KiB of unknown keys: the first 20 are listed, the count is told.
  const junk: Record<string, number> = {};
  for (let i = 0, size = 0; size < 60_000; i++, size += `"k${i}":${i},`.length) junk[`k${i}`] = i;
  const text = JSON.stringify(junk);
  const response = await fetch(`${server.url}/functions/v1/customers-upsert`, {
    method: "POST",
    headers: { authorization: `Bearer ${tokens.service}`, "content-type": "application/json" },
    body: text,
  });
  const answer = await response.text();
  assertEquals(response.status, 400);
  assert(answer.length < 4096, `a ${answer.length}-byte error for a ${text.length}-byte body`);
  const { error } = JSON.parse(answer);
  assertEquals(error.details.length, 20);
  assert(/first 20 of \d+ problems/.test(error.message), error.message);
  // A single very long unknown key is named, cut short.
  const longKey = await post("customers-upsert", {
    body: JSON.stringify({ restaurantId, email: "a@b.co", ["x".repeat(50_000)]: 1 }),
  });
  assertEquals(longKey.status, 400);
  assert(JSON.stringify(longKey.body).length < 1000);
});

Deno.test("timestamps Postgres would refuse are a 400 before anything is written", async () => {
  const before = await tableCounts();
  const booking = (startsAt: string) => ({
    restaurantId,
    email: "time@example.com",
    booking: { id: crypto.randomUUID(), covers: 2, startsAt },
  });
  const bad = [
    "0000-01-01T00:00:00Z",
    "2027-01-01T19:00:00+23:00",
    "2027-01-01T19:00:00-16:00",
    `2027-01-01T19:00:00.${"1".repeat(60_000)}Z`,
    "2027-01-01T19:00:00.1234567890Z",
  ];
  for (const startsAt of bad) {
    const r = await post("customers-upsert", { body: JSON.stringify(booking(startsAt)) });
    assertEquals(r.status, 400, `${startsAt.slice(0, 40)}: ${JSON.stringify(r.body)}`);
    assertEquals(r.body.error.details[0].path, "booking.startsAt");
  }
  const cancel = await post("customer-cancel", {
    body: JSON.stringify({
      restaurantId,
      bookingId: crypto.randomUUID(),
      email: "time@example.com",
      cancelledAt: "2027-01-01T19:00:00-20:00",
    }),
  });
  assertEquals(cancel.status, 400);
  assertEquals(cancel.body.error.details[0].path, "cancelledAt");
  // A cancellation webhook records the booking and its cancellation: an
  // unusable updated_at refuses the delivery before anything is written.
  const id = crypto.randomUUID();
  const row = {
    id,
    restaurant_id: restaurantId,
    customer_email: "late.time@example.com",
    party_size: 2,
    start_at: "2027-01-01T19:00:00+00:00",
    status: "cancelled",
    updated_at: "2027-01-01T19:00:00+23:00",
  };
  const hook = await post("customer-cancel", {
    body: JSON.stringify({
      type: "UPDATE",
      table: "bookings",
      schema: "public",
      record: row,
      old_record: { ...row, status: "confirmed" },
    }),
  });
  assertEquals(hook.status, 400, JSON.stringify(hook.body));
  assertEquals(hook.body.error.details[0].path, "record.updated_at");
  assertEquals(await tableCounts(), before);
  // The bounds themselves are stored.
  for (const startsAt of ["0001-01-01T00:00:00+15:59", "9999-12-31T23:59:59.123456789-15:59"]) {
    const r = await post("customers-upsert", { body: JSON.stringify(booking(startsAt)) });
    assertEquals(r.status, 200, `${startsAt}: ${JSON.stringify(r.body)}`);
  }
});

Deno.test("one guest whatever the Unicode form of the email; names stored composed", async () => {
  const composed = await invoke("customers-upsert", {
    restaurantId,
    email: "José.Ünal@example.com",
    name: "Jose\u0301 U\u0308nal",
  }, tokens.service);
  assertEquals(composed.status, 200, JSON.stringify(composed.body));
  assertEquals(composed.body.customer.name, "José Ünal");
  for (
    const spelling of [
      "Jose\u0301.U\u0308nal@example.com",
      "jos\u200bé.ünal@example.com",
      "\ufeffJOSÉ.ÜNAL\u00ad@example.com",
      "José.\u2060Ünal\u200d@Example.com",
    ]
  ) {
    const r = await invoke("customers-upsert", { restaurantId, email: spelling }, tokens.service);
    assertEquals(r.status, 200, JSON.stringify(r.body));
    assertEquals(r.body.customer.id, composed.body.customer.id, JSON.stringify(spelling));
  }
  // An invisible character next to plain letters is dropped too.
  const plain = await invoke("customers-upsert", {
    restaurantId,
    email: "jose\u200b@example.com",
  }, tokens.service);
  const again = await invoke("customers-upsert", {
    restaurantId,
    email: "jose@example.com",
  }, tokens.service);
  assertEquals(again.body.customer.id, plain.body.customer.id);
  assertEquals(plain.body.customer.email, "jose@example.com");
});

Deno.test("webhooks record the booking on its usable contact and drop a bad optional field", async () => {
  const row = (fields: Record<string, unknown>) => ({
    id: crypto.randomUUID(),
    restaurant_id: restaurantId,
    customer_name: "Good Guest",
    customer_email: null,
    customer_phone: null,
    party_size: 3,
    start_at: "2027-04-01T19:00:00+00:00",
    status: "confirmed",
    marketing_opt_in: false,
    ...fields,
  });
  const insert = (record: unknown) => ({
    type: "INSERT",
    table: "bookings",
    schema: "public",
    record,
    old_record: null,
  });
  const cases: Array<[string, Record<string, unknown>, string[]]> = [
    ["tab in the name", {
      customer_name: "Lost\tGuest",
      customer_email: "lost.guest@example.com",
    }, ["record.customer_name"]],
    ["extension in the phone", {
      customer_email: "ext.guest@example.com",
      customer_phone: "020 7946 0958 ext 12",
    }, ["record.customer_phone"]],
    ["too short a phone", {
      customer_email: "short.phone@example.com",
      customer_phone: "12345",
    }, ["record.customer_phone"]],
    ["bad email beside a good phone", {
      customer_email: "not an email",
      customer_phone: "07912 345601",
    }, ["record.customer_email"]],
    ["opt-in that is not a boolean", {
      customer_email: "optin.guest@example.com",
      marketing_opt_in: "yes",
    }, ["record.marketing_opt_in"]],
  ];
  for (const [label, fields, dropped] of cases) {
    const record = row(fields);
    const r = await invoke("customers-upsert", insert(record), tokens.service);
    assertEquals(r.status, 200, `${label}: ${JSON.stringify(r.body)}`);
    assertEquals(r.body.bookingRecorded, true, label);
    assertEquals(r.body.warnings.map((w: { path: string }) => w.path), dropped, label);
    for (const w of r.body.warnings) {
      assert(typeof w.message === "string" && w.message.length > 0);
      for (const value of Object.values(fields)) {
        assert(!w.message.includes(String(value)), `${label}: the warning repeats a value`);
      }
    }
    // The server writes a request's line before it answers.
    assert(
      server.logs.some((l) => l.includes(`"dropped":"${dropped.join(",")}"`)),
      `${label}: no log line names the dropped field`,
    );
  }
  // The dropped phone is not stored; the booking is on the email's customer.
  const [ext] = await sql`
    select phone, total_bookings from public.customers c
    join public.customer_profiles p on p.customer_id = c.id
    where c.restaurant_id = ${restaurantId} and email_normalized = 'ext.guest@example.com'`;
  assertEquals([ext.phone, ext.total_bookings], [null, 1]);

  // No usable contact at all: ignored, with the reasons.
  const none = await invoke(
    "customers-upsert",
    insert(row({ customer_phone: "12345", customer_email: "@" })),
    tokens.service,
  );
  assertEquals([none.status, none.body.ignored], [200, true]);
  assertEquals(none.body.warnings.map((w: { path: string }) => w.path).sort(), [
    "record.customer_email",
    "record.customer_phone",
  ]);

  // The cancellation of a booking whose phone is unusable counts on its email.
  const cancelled = row({
    customer_email: "cancel.ext@example.com",
    customer_phone: "020 7946 0958 ext 12",
    status: "cancelled",
  });
  const update = await invoke("customer-cancel", {
    type: "UPDATE",
    table: "bookings",
    schema: "public",
    record: cancelled,
    old_record: { ...cancelled, status: "confirmed" },
  }, tokens.service);
  assertEquals(update.status, 200, JSON.stringify(update.body));
  assertEquals(
    [update.body.bookingRecorded, update.body.profile.totalCancellations],
    [true, 1],
  );
  assertEquals(update.body.warnings, [{
    path: "record.customer_phone",
    message: update.body.warnings[0].message,
  }]);

  // API callers keep the strict 400.
  const api = await invoke("customers-upsert", {
    restaurantId,
    email: "api.ext@example.com",
    phone: "020 7946 0958 ext 12",
  }, tokens.service);
  assertEquals(api.status, 400);
  // The log names fields, never values.
  assert(server.logs.some((l) => l.includes('"fn":"customer-cancel"') && l.includes('"dropped"')));
  const text = server.logs.join("\n");
  for (const value of ["Lost\\tGuest", "Lost\tGuest", "ext 12", "not an email", "12345"]) {
    assert(!text.includes(value), `the log carries ${JSON.stringify(value)}`);
  }
});

Deno.test("the local server closes connections that send headers or a body too slowly, or nothing", async () => {
  // Short deadlines for the test; the defaults close the same connections
  // within a minute.
  assert(Math.max(...Object.values(DEFAULT_DEADLINES)) <= 60_000);
  const deadlines = { headerMs: 1000, requestMs: 2000, idleMs: 1500 };
  const slow = await startServer({
    SERVE_HEADER_TIMEOUT_MS: String(deadlines.headerMs),
    SERVE_REQUEST_TIMEOUT_MS: String(deadlines.requestMs),
    SERVE_IDLE_TIMEOUT_MS: String(deadlines.idleMs),
  });
  const port = Number(new URL(slow.url).port);
  const encode = (text: string) => new TextEncoder().encode(text);
  const body = JSON.stringify({ restaurantId, email: "slow@example.com" });
  const head = (extra: string) =>
    `POST /functions/v1/customers-upsert HTTP/1.1\r\nhost: x\r\n` +
    `authorization: Bearer ${tokens.service}\r\ncontent-type: application/json\r\n${extra}`;
  const kinds = {
    // Header lines, one every 100 ms, never a blank line.
    headers: { first: head(""), drip: "x-slow: 1\r\n", deadline: deadlines.headerMs },
    // Complete headers, then a body a byte at a time that never completes.
    body: {
      first: head(`content-length: ${body.length + 1000}\r\n\r\n`),
      drip: " ",
      deadline: deadlines.requestMs,
    },
    // Connects and sends nothing.
    silent: { first: "", drip: "", deadline: deadlines.idleMs },
  };
  type Kind = keyof typeof kinds;
  const conns: Array<{ kind: Kind; conn: Deno.Conn; opened: number }> = [];
  let drip: ReturnType<typeof setInterval> | undefined;
  try {
    for (let i = 0; i < 250; i++) {
      const kind = (["headers", "body", "silent"] as const)[i % 3];
      // Taken before connecting: the server's clock for it cannot start earlier.
      const opened = performance.now();
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      if (kinds[kind].first) await conn.write(encode(kinds[kind].first));
      conns.push({ kind, conn, opened });
    }
    drip = setInterval(() => {
      for (const { kind, conn } of conns) {
        if (kinds[kind].drip) conn.write(encode(kinds[kind].drip)).catch(() => {});
      }
    }, 100);
    // Each connection is over when the server closes it: read until then.
    const closed = conns.map(async ({ kind, conn, opened }) => {
      const chunks: string[] = [];
      const buffer = new Uint8Array(4096);
      try {
        for (let n; (n = await conn.read(buffer)) !== null;) {
          chunks.push(new TextDecoder().decode(buffer.subarray(0, n)));
        }
      } catch {
        // Reset by the server: closed too.
      }
      return { kind, ms: performance.now() - opened, answer: chunks.join("") };
    });
    // The server keeps answering everyone else meanwhile.
    const normal = await post("customers-upsert", { body }, slow.url);
    assertEquals(normal.status, 200);
    const results = await Promise.all(closed);
    for (const { kind, ms, answer } of results) {
      assert(ms >= kinds[kind].deadline, `${kind} closed after ${ms.toFixed(0)} ms`);
      assert(ms < kinds[kind].deadline + 20_000, `${kind} open for ${ms.toFixed(0)} ms`);
      if (kind === "silent") {
        assertEquals(answer, "");
      } else {
        assert(answer.startsWith("HTTP/1.1 408"), `${kind}: ${answer.slice(0, 40)}`);
        assert(answer.includes('"code":"request_timeout"'));
      }
    }
    // A request whose headers come in pieces, within the deadlines, is served.
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const request = head(`content-length: ${body.length}\r\n\r\n`) + body;
    const answered = (async () => {
      const buffer = new Uint8Array(8192);
      const n = await conn.read(buffer);
      return new TextDecoder().decode(buffer.subarray(0, n ?? 0));
    })();
    await conn.write(encode(request.slice(0, 40)));
    await conn.write(encode(request.slice(40)));
    assert((await answered).startsWith("HTTP/1.1 200"));
    conn.close();
  } finally {
    clearInterval(drip);
    for (const { conn } of conns) {
      try {
        conn.close();
      } catch {
        // Closed by the server.
      }
    }
    await slow.stop();
  }
});

Deno.test("logs: one JSON line per request with id, function, status and duration; no contacts", async () => {
  // Traffic of its own, so that the check holds when this test runs alone
  // too: accepted and refused requests carrying every contact looked for.
  const bodies = [
    { restaurantId, email: "Ada@Example.COM", phone: "020 7946 0958" },
    { restaurantId, email: "hook@example.com", phone: "07912 345678" },
    { restaurantId, email: "ada@example.com 07912", phone: "+44 7912 3456" },
  ];
  for (let i = 0; i < 20; i++) {
    for (const body of bodies) await post("customers-upsert", { body: JSON.stringify(body) });
  }
  // No wait needed: the server writes a request's line before it answers,
  // straight into its log file.
  const lines = server.logs.filter((l) => l.includes('"msg":"request"')).map((l) => JSON.parse(l));
  assert(lines.length > 50);
  for (const line of lines) {
    assert(typeof line.requestId === "string" && line.requestId.length > 0);
    assert(["customers-upsert", "customer-cancel", "booking-update"].includes(line.fn), line.fn);
    assert(typeof line.status === "number" && typeof line.durationMs === "number");
  }
  // Request ids are random hex and timestamps are digits: "7946" turns up
  // in one of a few hundred ids by chance, so both are left out of the search.
  const text = server.logs.map((line) => {
    try {
      const { requestId: _id, ts: _ts, ...rest } = JSON.parse(line);
      return JSON.stringify(rest);
    } catch {
      return line;
    }
  }).join("\n");
  for (
    const secret of [
      "ada@example.com",
      "Ada@Example.COM",
      "hook@example.com",
      "7946",
      "+4479123456",
      "07912",
    ]
  ) {
    assert(!text.includes(secret), `log contains ${secret}`);
  }
});
