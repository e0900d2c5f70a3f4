// Hostile input: generated bodies that are each wrong in at least one
// definite way (fast-check, fixed seed). Every answer must be a 4xx JSON
// error of the documented shape, no 5xx, and no row may change. Then valid
// bodies whose text looks like SQL or script are stored verbatim.
import fc from "fast-check";
import type { Sql } from "../helpers.ts";
import { isErrorShape, parallel, send, type Summary } from "./common.ts";

interface Attack {
  kind: string;
  fn: "customers-upsert" | "customer-cancel";
  contentType: string | null;
  body: string | Uint8Array<ArrayBuffer>;
}

const NOT_STRING = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.string(), { maxKeys: 3 }),
);
const INJECTION = fc.constantFrom(
  "'; drop table public.customers; --",
  '" or 1=1 --',
  "<script>alert(1)</script>",
  "$v$); delete from public.customers; --",
  "${7*7}",
  "../../etc/passwd",
  "\u202e\u0000",
);

// Not dates at all, and ISO dates Postgres refuses: year 0, an offset past
// ±15:59, a fraction too long for a date field.
const BAD_DATES = [
  "2027-13-01",
  "tomorrow",
  "0000-01-01T00:00:00Z",
  "2027-01-01T19:00:00+23:00",
  "2027-01-01T19:00:00-20:00",
  `2027-01-01T19:00:00.${"9".repeat(20_000)}Z`,
];

function validUpsert(restaurantId: string) {
  return fc.record({
    restaurantId: fc.constant(restaurantId),
    name: fc.constantFrom("Ada", "O'Brien"),
    email: fc.constantFrom("hostile@example.com"),
    phone: fc.constantFrom("+44 7912 300001"),
    marketingOptIn: fc.boolean(),
    booking: fc.record({
      id: fc.uuid({ version: 4 }),
      covers: fc.integer({ min: 1, max: 1000 }),
      startsAt: fc.constant("2027-01-01T19:00:00Z"),
    }),
  });
}

function validCancel(restaurantId: string) {
  return fc.record({
    restaurantId: fc.constant(restaurantId),
    bookingId: fc.uuid({ version: 4 }),
    email: fc.constant("hostile@example.com"),
  });
}

/** A body for `fn` that is definitely invalid, by construction. */
function attackArb(restaurantId: string): fc.Arbitrary<Attack> {
  const fnArb = fc.constantFrom("customers-upsert" as const, "customer-cancel" as const);
  const valid = (fn: Attack["fn"]) =>
    (fn === "customers-upsert"
      ? validUpsert(restaurantId)
      : validCancel(restaurantId)) as fc.Arbitrary<
        Record<string, unknown>
      >;
  const json = (kind: string, gen: (fn: Attack["fn"]) => fc.Arbitrary<unknown>) =>
    fnArb.chain((fn) =>
      gen(fn).map((value): Attack => ({
        kind,
        fn,
        contentType: "application/json",
        body: JSON.stringify(value),
      }))
    );
  const mutate = (
    kind: string,
    change: (body: Record<string, unknown>, fn: Attack["fn"]) => fc.Arbitrary<unknown>,
  ) => json(kind, (fn) => valid(fn).chain((body) => change({ ...body }, fn)));

  return fc.oneof(
    // Not an object at all.
    json(
      "not an object",
      () => fc.oneof(fc.integer(), fc.string(), fc.array(fc.jsonValue()), fc.constant(null)),
    ),
    // Arbitrary JSON objects: random keys are always unknown fields.
    json(
      "random object",
      () =>
        fc.dictionary(
          fc.string({ minLength: 1, maxLength: 8 }).filter((k) =>
            ![
              "restaurantId",
              "bookingId",
              "customerId",
              "name",
              "email",
              "phone",
              "marketingOptIn",
              "booking",
              "cancelledAt",
              "type",
              "table",
              "schema",
              "record",
              "old_record",
            ].includes(k)
          ),
          fc.jsonValue(),
          { minKeys: 1, maxKeys: 5 },
        ),
    ),
    // A required field missing.
    mutate("missing field", (b, fn) => {
      delete b[fn === "customers-upsert" ? "restaurantId" : "bookingId"];
      return fc.constant(b);
    }),
    // An unknown field next to valid ones.
    mutate(
      "unknown field",
      (b) =>
        fc.tuple(
          fc.constantFrom("emial", "Name", "restaurant_id", "__proto__x", "admin", "role"),
          fc.jsonValue(),
        )
          .map(([k, v]) => ({ ...b, [k]: v })),
    ),
    // Wrong types.
    mutate("wrong type", (b, fn) =>
      fc.tuple(
        fc.constantFrom(
          ...(fn === "customers-upsert"
            ? ["restaurantId", "name", "email", "phone"]
            : ["restaurantId", "bookingId", "email"]),
        ),
        NOT_STRING,
      ).map(([k, v]) => ({ ...b, [k]: v }))),
    mutate(
      "wrong boolean",
      (b, fn) =>
        fn === "customers-upsert"
          ? fc.oneof(fc.string(), fc.integer(), fc.constant("true")).map((v) => ({
            ...b,
            marketingOptIn: v,
          }))
          : fc.constant({ ...b, customerId: 42 }),
    ),
    // Numbers out of range or not whole.
    mutate(
      "covers out of range",
      (b, fn) =>
        fn === "customers-upsert"
          ? fc.oneof(
            fc.integer({ max: 0 }),
            fc.integer({ min: 1001 }),
            fc.constantFrom(1.5, 1e308, -0.5, 2 ** 53),
          )
            .map((covers) => ({ ...b, booking: { ...(b.booking as object), covers } }))
          : fc.constant({ ...b, cancelledAt: "yesterday" }),
    ),
    // Huge strings, within the body limit.
    mutate(
      "huge string",
      (b, fn) =>
        fc.integer({ min: 400, max: 50_000 }).map((n) => ({
          ...b,
          [fn === "customers-upsert" ? "name" : "email"]: "x".repeat(n),
        })),
    ),
    // NUL and other control characters in text.
    mutate(
      "control characters",
      (b) =>
        fc.constantFrom("a\u0000b", "\u0007bell", "line\u001bescape", "\u0085").map((name) => ({
          ...b,
          email: `${name}@example.com`,
          name,
        })),
    ),
    // SQL and script payloads where only a UUID or an email fits.
    mutate(
      "injection in a typed field",
      (b) =>
        fc.tuple(fc.constantFrom("restaurantId", "email", "phone"), INJECTION).map(([k, v]) => ({
          ...b,
          [k]: v,
        })),
    ),
    // Deep nesting.
    json("deep nesting", () =>
      fc.integer({ min: 50, max: 5000 }).map((depth) => {
        let value: unknown = 1;
        for (let i = 0; i < depth; i++) value = { restaurantId: value };
        return value;
      })),
    // Bad dates in a booking.
    mutate(
      "bad date",
      (b, fn) =>
        fn === "customers-upsert"
          ? fc.constantFrom(...BAD_DATES, "2027-01-01", "1e10").map((startsAt) => ({
            ...b,
            booking: { ...(b.booking as object), startsAt },
          }))
          : fc.constantFrom(...BAD_DATES, "never").map((cancelledAt) => ({ ...b, cancelledAt })),
    ),
    // Webhook bodies with a broken record.
    fnArb.chain((fn) =>
      fc.record({
        id: fc.uuid({ version: 4 }),
        type: fc.constantFrom("INSERT", "UPDATE"),
        party_size: fc.oneof(fc.constant(0), fc.constant("many"), fc.constant(-3)),
      }).map(({ id, type, party_size }): Attack => ({
        kind: "broken webhook record",
        fn,
        contentType: "application/json",
        body: JSON.stringify({
          type,
          table: "bookings",
          schema: "public",
          record: {
            id,
            restaurant_id: restaurantId,
            party_size,
            status: "cancelled",
            customer_email: "hostile@example.com",
          },
          old_record: null,
        }),
      }))
    ),
    // Truncated JSON.
    fnArb.chain((fn) =>
      valid(fn).chain((body) => {
        const text = JSON.stringify(body);
        return fc.integer({ min: 0, max: text.length - 1 }).map((cut): Attack => ({
          kind: "truncated JSON",
          fn,
          contentType: "application/json",
          body: text.slice(0, cut),
        }));
      })
    ),
    // Invalid UTF-8.
    fnArb.chain((fn) =>
      fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes): Attack => ({
        kind: "invalid UTF-8",
        fn,
        contentType: "application/json",
        body: new Uint8Array([0x7b, 0x22, 0xc3, 0x28, 0xff, ...bytes]),
      }))
    ),
    // Wrong content types.
    fnArb.chain((fn) =>
      fc.tuple(
        fc.constantFrom(
          null,
          "text/plain",
          "application/x-www-form-urlencoded",
          "multipart/form-data; boundary=x",
          "application/jsonx",
          "text/json",
        ),
        valid(fn),
      )
        .map(([contentType, body]): Attack => ({
          kind: "wrong content type",
          fn,
          contentType,
          body: JSON.stringify(body),
        }))
    ),
    // Oversize.
    fnArb.map((fn): Attack => ({
      kind: "oversize body",
      fn,
      contentType: "application/json",
      body: JSON.stringify({ restaurantId, name: "x".repeat(70_000) }),
    })),
  );
}

/**
 * Broken bodies for look-up, export, erasure, booking-update, consent,
 * merge, unmerge and candidates:
 * each field of a valid body replaced by hostile values, plus unknown and
 * missing fields. None may change anything or answer other than 4xx JSON.
 */
function rightsAttacks(restaurantId: string): Array<[string, string]> {
  const unknown = crypto.randomUUID();
  const valid: Record<string, Record<string, unknown>> = {
    "customer-lookup": { restaurantId, customerId: unknown },
    "customer-export": { restaurantId, customerId: unknown },
    "customer-erase": { restaurantId, customerId: unknown, reason: "guest_request", force: true },
    "booking-update": { restaurantId, bookingId: unknown, status: "completed", covers: 2 },
    "customer-consent": {
      restaurantId,
      customerId: unknown,
      channel: "email",
      granted: false,
      wording: "Our monthly letter",
    },
    "customers-merge": { restaurantId, targetId: unknown, sourceIds: [crypto.randomUUID()] },
    "customers-unmerge": { restaurantId, mergeId: unknown },
    // An unknown restaurant: listing (what a dropped dismiss becomes) is a 404 too.
    "customer-duplicates": { restaurantId: unknown, dismiss: [unknown, crypto.randomUUID()] },
  };
  const hostile: unknown[] = [
    null,
    123,
    -1,
    1.5,
    true,
    "",
    "x".repeat(5000),
    "'; drop table public.customers; --",
    "0000-01-01T00:00:00Z",
    "\u0000",
    [],
    {},
    { $gt: "" },
  ];
  const attacks: Array<[string, string]> = [];
  for (const [fn, body] of Object.entries(valid)) {
    for (const field of Object.keys(body)) {
      for (const value of hostile) attacks.push([fn, JSON.stringify({ ...body, [field]: value })]);
      const { [field]: _dropped, ...missing } = body;
      if (!["reason", "force", "covers", "wording"].includes(field)) {
        attacks.push([fn, JSON.stringify(missing)]);
      }
    }
    attacks.push([fn, JSON.stringify({ ...body, extra: 1 })]);
    attacks.push([fn, "[]"]);
  }
  // A valid body for an unknown guest or booking is a 404, not a change.
  for (const [fn, body] of Object.entries(valid)) attacks.push([fn, JSON.stringify(body)]);
  return attacks;
}

async function snapshot(sql: Sql) {
  const [row] = await sql`
    select (select count(*) from public.customers)::int as customers,
      (select count(*) from public.customer_bookings)::int as events,
      (select coalesce(sum(total_bookings + total_covers + total_cancellations), 0) from public.customer_profiles)::int as counters,
      (select count(*) from public.consent_events)::int as consent_events,
      (select count(*) from public.customer_erasures)::int as erasures,
      (select count(*) from public.customer_merges)::int as merges,
      (select count(*) from public.customer_contacts)::int as contacts,
      (select count(*) from public.customer_duplicates where dismissed_at is not null)::int as dismissed,
      (select count(*) from public.restaurants)::int as restaurants`;
  return JSON.stringify(row);
}

export interface HostileOptions {
  base: string;
  sql: Sql;
  token: string;
  count: number;
  seed: number;
  clients?: number;
}

export async function runHostile(o: HostileOptions): Promise<Summary> {
  const failures: string[] = [];
  const [{ id: restaurantId }] = await o.sql`
    insert into public.restaurants (name, phone_region) values ('Hostile', 'GB') returning id`;
  const attacks = fc.sample(attackArb(restaurantId), { seed: o.seed, numRuns: o.count });
  const kinds = new Map<string, number>();
  const before = await snapshot(o.sql);
  await parallel(attacks, o.clients ?? 8, async (a) => {
    kinds.set(a.kind, (kinds.get(a.kind) ?? 0) + 1);
    const headers: Record<string, string> = { authorization: `Bearer ${o.token}` };
    if (a.contentType !== null) headers["content-type"] = a.contentType;
    const answer = await send(o.base, a.fn, a.body, headers);
    if (answer.status < 400 || answer.status >= 500 || !isErrorShape(answer.body)) {
      failures.push(`${a.kind} → ${answer.status} ${JSON.stringify(answer.body).slice(0, 160)}`);
    }
  });
  // The other functions, each given broken versions of a valid body.
  const others = rightsAttacks(restaurantId);
  await parallel(others, o.clients ?? 8, async ([fn, body]) => {
    const answer = await send(o.base, fn, body, {
      authorization: `Bearer ${o.token}`,
      "content-type": "application/json",
    });
    if (answer.status < 400 || answer.status >= 500 || !isErrorShape(answer.body)) {
      failures.push(
        `${fn} ${body.slice(0, 80)} → ${answer.status} ${
          JSON.stringify(answer.body).slice(0, 120)
        }`,
      );
    }
  });
  const after = await snapshot(o.sql);
  if (after !== before) failures.push(`rows changed: ${before} → ${after}`);

  // Valid text that looks like code is data: stored exactly, never executed.
  const names = [
    "Robert'); DROP TABLE public.customers;--",
    "<script>alert('x')</script>",
    "$v$ $$ \\ \" '",
    "Zoë \u202e Ünal",
    "Ada$v",
    "x$v0$v",
  ];
  for (const [i, name] of names.entries()) {
    const answer = await send(
      o.base,
      "customers-upsert",
      JSON.stringify({
        restaurantId,
        name,
        email: `verbatim.${i}@example.com`,
      }),
      { authorization: `Bearer ${o.token}`, "content-type": "application/json" },
    );
    const [row] = await o.sql`
      select full_name from public.customers where restaurant_id = ${restaurantId} and email_normalized = ${`verbatim.${i}@example.com`}`;
    if (answer.status !== 200 || row?.full_name !== name) {
      failures.push(
        `verbatim name ${JSON.stringify(name)}: ${answer.status}, stored ${
          JSON.stringify(row?.full_name)
        }`,
      );
    }
  }
  return {
    suite: "hostile input",
    tried: `generated invalid bodies (${
      [...kinds.keys()].length
    } kinds) + ${names.length} verbatim names`,
    count: attacks.length + others.length + names.length,
    failures,
  };
}
