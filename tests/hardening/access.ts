// Access: every endpoint × every kind of caller × the restaurant it names.
// The answer must be exactly the documented one, and no answer to a caller
// of restaurant B (or to a refused caller) may carry restaurant A's data.
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { b64url } from "../../scripts/lib/jwt.ts";
import type { Sql } from "../helpers.ts";
import { isErrorShape, jsonHeaders, send, type Summary } from "./common.ts";

export interface AccessOptions {
  base: string;
  sql: Sql;
  sign: (
    payload: Record<string, unknown>,
    options?: { secret?: string; expiresIn?: number | string; issuer?: string },
  ) => Promise<string>;
  secretKey: string;
  publishableKey: string;
  /** The RSA public key the server trusts (its SUPABASE_JWKS), for the HS/RS confusion attack. */
  rsaPublicJwk: Record<string, unknown>;
}

/** The key pair and JWKS a server under test should trust. */
export async function accessKeys() {
  const rsa = await generateKeyPair("RS256", { extractable: true });
  const jwk = {
    ...(await exportJWK(rsa.publicKey)),
    kid: "hardening-rsa",
    alg: "RS256",
    use: "sig",
  };
  return { rsa, jwk, jwks: JSON.stringify({ keys: [jwk] }) };
}

type Who =
  | "no credential"
  | "malformed header"
  | "not a JWT"
  | "expired"
  | "alg none"
  | "HS/RS confusion"
  | "wrong issuer"
  | "wrong secret"
  | "unknown secret key"
  | "tampered JWT beside the secret key"
  | "anon"
  | "publishable key"
  | "staff of B"
  | "staff of B beside the secret key"
  | "staff of A"
  | "service role"
  | "secret key";

const UNAUTHENTICATED: Who[] = [
  "no credential",
  "malformed header",
  "not a JWT",
  "expired",
  "alg none",
  "HS/RS confusion",
  "wrong issuer",
  "wrong secret",
  "unknown secret key",
  // The bearer decides who calls: one that does not verify is refused
  // whatever the apikey header holds.
  "tampered JWT beside the secret key",
];

/** A JSON segment of a hand-made JWT. */
const b64 = (value: unknown) => b64url(JSON.stringify(value));

export async function runAccess(o: AccessOptions): Promise<Summary> {
  const failures: string[] = [];
  const [{ id: a }, { id: b }] = await o.sql`
    insert into public.restaurants (name, phone_region) values ('A', 'GB'), ('B', 'FR') returning id`;
  const staffA = crypto.randomUUID();
  const staffB = crypto.randomUUID();
  await o.sql`
    insert into public.restaurant_memberships (restaurant_id, user_id)
    values (${a}, ${staffA}), (${b}, ${staffB})`;
  const service = await o.sign({ role: "service_role" });
  const secretA = { email: "secret.guest@a.example", phone: "+447912400001" };
  const created = await send(
    o.base,
    "customers-upsert",
    JSON.stringify({
      restaurantId: a,
      ...secretA,
      booking: { id: crypto.randomUUID(), covers: 2 },
    }),
    jsonHeaders(service),
  );
  const customerA = (created.body as { customer: { id: string } }).customer.id;
  const aData = [customerA, secretA.email, secretA.phone, "7912400001"];
  // A second guest of A, and a candidate pair of the two (the phone crossed).
  const second = await send(
    o.base,
    "customers-upsert",
    JSON.stringify({ restaurantId: a, email: "second.guest@a.example", phone: "+447912400002" }),
    jsonHeaders(service),
  );
  const customerA2 = (second.body as { customer: { id: string } }).customer.id;
  await send(
    o.base,
    "customers-upsert",
    JSON.stringify({ restaurantId: a, email: secretA.email, phone: "+447912400002" }),
    jsonHeaders(service),
  );
  aData.push(customerA2, "second.guest@a.example");

  const headersFor = async (who: Who): Promise<Record<string, string>> => {
    const json = { "content-type": "application/json" };
    const bearer = (token: string) => ({ ...json, authorization: `Bearer ${token}` });
    switch (who) {
      case "no credential":
        return json;
      case "malformed header":
        return { ...json, authorization: "Basic dXNlcjpwYXNz" };
      case "not a JWT":
        return bearer("definitely.not.ajwt");
      case "expired":
        return bearer(
          await o.sign({ role: "service_role" }, {
            expiresIn: Math.floor(Date.now() / 1000) - 120,
          }),
        );
      case "alg none":
        return bearer(
          `${b64({ alg: "none", typ: "JWT" })}.${
            b64({ role: "service_role", iss: "supabase-demo", exp: 4102444800 })
          }.`,
        );
      case "HS/RS confusion":
        return bearer(
          await new SignJWT({ role: "service_role" }).setProtectedHeader({ alg: "HS256" })
            .setIssuer("supabase")
            .setExpirationTime("1h").sign(new TextEncoder().encode(JSON.stringify(o.rsaPublicJwk))),
        );
      case "wrong issuer":
        return bearer(
          await o.sign({ role: "service_role" }, { issuer: "https://attacker.example/auth/v1" }),
        );
      case "wrong secret":
        return bearer(
          await o.sign({ role: "service_role" }, {
            secret: "not-the-project-secret-but-32-chars-long",
          }),
        );
      case "unknown secret key":
        return { ...json, apikey: "sb_secret_00000000000000000000000000000000" };
      case "tampered JWT beside the secret key": {
        const [header, , signature] = service.split(".");
        const claims = b64({ role: "service_role", iss: "supabase-demo", exp: 4102444800 });
        return { ...bearer(`${header}.${claims}.${signature}`), apikey: o.secretKey };
      }
      case "anon":
        return bearer(await o.sign({ role: "anon" }));
      case "publishable key":
        return { ...json, apikey: o.publishableKey };
      case "staff of B":
        return bearer(await o.sign({ role: "authenticated", sub: staffB }));
      // A signed-in user of a secret-key client acts as that user.
      case "staff of B beside the secret key":
        return {
          ...bearer(await o.sign({ role: "authenticated", sub: staffB })),
          apikey: o.secretKey,
        };
      case "staff of A":
        return bearer(await o.sign({ role: "authenticated", sub: staffA }));
      case "service role":
        return bearer(service);
      case "secret key":
        return { ...json, apikey: o.secretKey };
    }
  };

  type Case = {
    label: string;
    fn: string;
    body: () => unknown;
    expect: (who: Who) => [number, string?];
  };
  const refusedUnlessA = (who: Who): [number, string?] =>
    UNAUTHENTICATED.includes(who)
      ? [401, "unauthorized"]
      : ["staff of A", "service role", "secret key"].includes(who)
      ? [200]
      : [403, "forbidden"];
  // Naming B: B's callers learn only that B has no such customer.
  const notFoundInB = (who: Who): [number, string?] =>
    UNAUTHENTICATED.includes(who)
      ? [401, "unauthorized"]
      : ["staff of B", "staff of B beside the secret key", "service role", "secret key"].includes(
          who,
        )
      ? [404, "customer_not_found"]
      : [403, "forbidden"];
  // Export and erasure: the service, or owners and managers (the staff here
  // are plain staff, so they are refused too).
  const serviceOnly = (allowed: [number, string?]) => (who: Who): [number, string?] =>
    UNAUTHENTICATED.includes(who)
      ? [401, "unauthorized"]
      : ["service role", "secret key"].includes(who)
      ? allowed
      : [403, "forbidden"];
  const allowedInA = (allowed: [number, string?]) => (who: Who): [number, string?] => {
    const [status, code] = refusedUnlessA(who);
    return status === 200 ? allowed : [status, code];
  };
  const cases: Case[] = [
    {
      label: "look up A's customer in A",
      fn: "customer-lookup",
      body: () => ({ restaurantId: a, customerId: customerA }),
      expect: refusedUnlessA,
    },
    {
      label: "look up A's customer by contact, naming B",
      fn: "customer-lookup",
      body: () => ({ restaurantId: b, email: secretA.email }),
      expect: notFoundInB,
    },
    {
      label: "export A's customer in A",
      fn: "customer-export",
      body: () => ({ restaurantId: a, customerId: customerA }),
      expect: serviceOnly([200]),
    },
    {
      label: "erase A's customer, naming B",
      fn: "customer-erase",
      body: () => ({ restaurantId: b, customerId: customerA, force: true }),
      expect: serviceOnly([404, "customer_not_found"]),
    },
    {
      label: "update an unknown booking in A",
      fn: "booking-update",
      body: () => ({ restaurantId: a, bookingId: crypto.randomUUID(), status: "completed" }),
      expect: allowedInA([404, "booking_not_found"]),
    },
    {
      label: "grant A's customer sms consent in A",
      fn: "customer-consent",
      body: () => ({ restaurantId: a, customerId: customerA, channel: "sms", granted: true }),
      expect: refusedUnlessA,
    },
    {
      label: "upsert in A",
      fn: "customers-upsert",
      body: () => ({ restaurantId: a, email: `new.${crypto.randomUUID()}@a.example` }),
      expect: refusedUnlessA,
    },
    {
      label: "cancel A's customer by id in A",
      fn: "customer-cancel",
      body: () => ({ restaurantId: a, bookingId: crypto.randomUUID(), customerId: customerA }),
      expect: refusedUnlessA,
    },
    {
      label: "cancel A's booking by A's contact, naming B",
      fn: "customer-cancel",
      body: () => ({ restaurantId: b, bookingId: crypto.randomUUID(), email: secretA.email }),
      expect: notFoundInB,
    },
    {
      label: "cancel A's customer by id, naming B",
      fn: "customer-cancel",
      body: () => ({ restaurantId: b, bookingId: crypto.randomUUID(), customerId: customerA }),
      expect: notFoundInB,
    },
    {
      label: "list duplicate candidates in A",
      fn: "customer-duplicates",
      body: () => ({ restaurantId: a, limit: 5 }),
      expect: refusedUnlessA,
    },
    {
      label: "dismiss a candidate pair in A",
      fn: "customer-duplicates",
      body: () => ({ restaurantId: a, dismiss: [customerA, customerA2] }),
      expect: serviceOnly([200]),
    },
    {
      label: "dismiss A's pair, naming B",
      fn: "customer-duplicates",
      body: () => ({ restaurantId: b, dismiss: [customerA, customerA2] }),
      expect: serviceOnly([404, "customer_not_found"]),
    },
    {
      label: "merge an unknown guest into A's customer in A",
      fn: "customers-merge",
      body: () => ({ restaurantId: a, targetId: customerA, sourceIds: [crypto.randomUUID()] }),
      expect: serviceOnly([404, "customer_not_found"]),
    },
    {
      label: "merge A's customers, naming B",
      fn: "customers-merge",
      body: () => ({ restaurantId: b, targetId: customerA, sourceIds: [customerA2] }),
      expect: serviceOnly([404, "customer_not_found"]),
    },
    {
      label: "unmerge an unknown merge in A",
      fn: "customers-unmerge",
      body: () => ({ restaurantId: a, mergeId: crypto.randomUUID() }),
      expect: serviceOnly([404, "merge_not_found"]),
    },
    {
      label: "webhook INSERT for A",
      fn: "customers-upsert",
      body: () => ({
        type: "INSERT",
        table: "bookings",
        schema: "public",
        record: {
          id: crypto.randomUUID(),
          restaurant_id: a,
          customer_email: `hook.${crypto.randomUUID()}@a.example`,
          party_size: 2,
          start_at: "2027-02-01T19:00:00+00:00",
          status: "confirmed",
        },
        old_record: null,
      }),
      expect: (who) =>
        UNAUTHENTICATED.includes(who)
          ? [401, "unauthorized"]
          : ["service role", "secret key"].includes(who)
          ? [200]
          : [403, "forbidden"],
    },
  ];
  const everyone: Who[] = [
    ...UNAUTHENTICATED,
    "anon",
    "publishable key",
    "staff of B",
    "staff of B beside the secret key",
    "staff of A",
    "service role",
    "secret key",
  ];
  let count = 0;
  for (const c of cases) {
    for (const who of everyone) {
      count++;
      const answer = await send(o.base, c.fn, JSON.stringify(c.body()), await headersFor(who));
      const [status, code] = c.expect(who);
      const text = JSON.stringify(answer.body);
      if (answer.status !== status || (code !== undefined && !isErrorShape(answer.body, code))) {
        failures.push(
          `${c.label} as ${who}: ${answer.status} ${text.slice(0, 120)} (expected ${status} ${
            code ?? ""
          })`,
        );
      }
      const mayReadA = ["staff of A", "service role", "secret key"].includes(who) &&
        c.label.includes("in A");
      if (!mayReadA && aData.some((d) => text.includes(d))) {
        failures.push(`${c.label} as ${who}: the answer carries restaurant A's data`);
      }
    }
  }
  return {
    suite: "access",
    tried: `${cases.length} requests × ${everyone.length} kinds of caller`,
    count,
    failures,
  };
}
