// Test fixtures: the migrated test database (TEST_DB_URL, made by
// scripts/test.ts), tokens signed like Supabase's, and a real functions
// server started as its own process.
import postgres from "postgres";
import { jsonHeaders, send } from "./hardening/common.ts";
import { createDb, type Db } from "../supabase/functions/_shared/db.ts";
import { LOCAL_JWT_SECRET, signJwt } from "../scripts/lib/jwt.ts";
import { type StartedServer, startServer as startToolServer } from "../scripts/lib/server.ts";

/** The tests' own SQL client (tagged templates); product calls go through `Db`. */
export type Sql = postgres.Sql;

export const DB_URL = Deno.env.get("TEST_DB_URL") ?? "";
if (!DB_URL) throw new Error("TEST_DB_URL is not set: run the suite with `npm test`");
/**
 * What the product connects to: the same database through PgBouncer in
 * transaction mode when `npm test` runs its pooler pass (TEST_POOLER_URL),
 * else directly. Setup and checks (adminSql) always go direct.
 */
export const PRODUCT_DB_URL = Deno.env.get("TEST_POOLER_URL") || DB_URL;
/** True in the pooler pass of `npm test`. */
export const THROUGH_POOLER = PRODUCT_DB_URL !== DB_URL;

export const JWT_SECRET = Deno.env.get("SUPABASE_JWT_SECRET") ?? LOCAL_JWT_SECRET;
export const SECRET_KEY = "sb_secret_test_key_for_the_suite_0001";
export const PUBLISHABLE_KEY = "sb_publishable_test_key_for_the_suite_01";
export const CONSENT_TOKEN_SECRET = "consent-token-secret-for-the-suite-0123456789";

/**
 * A pool connected as the database owner (what SUPABASE_DB_URL gives the
 * functions). Each test file opens one in a `beforeEach` hook and ends it in
 * `afterEach`, so no connection or timer outlives its test (the sanitizers
 * are on).
 */
export function adminSql(): Sql {
  return postgres(DB_URL, { prepare: false, max: 4, onnotice: () => {} });
}

/**
 * The product's database access (what SUPABASE_DB_URL gives the functions),
 * opened and ended by hooks like `adminSql`.
 */
export function testDb(max = 4): Db {
  return createDb(PRODUCT_DB_URL, { max });
}

/**
 * Run `work` in a transaction as an API role (`set local role`): what a
 * write through PostgREST or a client key runs as, CHECKs included.
 */
export async function asRole<T>(
  sql: Sql,
  role: "anon" | "authenticated" | "service_role",
  work: (tx: postgres.TransactionSql) => Promise<T>,
): Promise<T> {
  return await sql.begin(async (tx) => {
    await tx`select set_config('role', ${role}, true)`;
    return await work(tx);
  }) as T;
}

/** Run `fn` with an owner pool of its own, ended when `fn` settles. */
export async function withAdminSql<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
  const sql = adminSql();
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** A fresh connection pool of its own, for parallel-connection tests. */
export function newPool(max: number): Sql {
  return postgres(DB_URL, { prepare: false, max, onnotice: () => {} });
}

export interface Drift {
  customer_id: string;
  /** The profile's numbers as stored and as recounted from its bookings' states. */
  stored: Record<string, unknown>;
  recounted: Record<string, unknown>;
}

/**
 * Profiles whose numbers differ from a recount of their bookings' states (of
 * one restaurant, or of all): the invariant every suite checks after its
 * work, by the database's own check (private.profile_drift).
 */
export async function profileDrift(sql: Sql, restaurantId?: string): Promise<Drift[]> {
  const rows = await sql<Drift[]>`
    select customer_id, stored, recounted from private.profile_drift(${
    restaurantId ?? null
  }::uuid)`;
  return [...rows];
}

export async function createRestaurant(
  sql: Sql,
  options: { region?: string; name?: string } = {},
): Promise<string> {
  const [row] = await sql`
    insert into public.restaurants (name, phone_region)
    values (${options.name ?? "Test restaurant"}, ${options.region ?? "GB"})
    returning id`;
  return row.id;
}

export async function addStaff(
  sql: Sql,
  restaurantId: string,
  role: "owner" | "manager" | "staff" = "staff",
): Promise<string> {
  const userId = crypto.randomUUID();
  await sql`
    insert into public.restaurant_memberships (restaurant_id, user_id, role)
    values (${restaurantId}, ${userId}, ${role})`;
  return userId;
}

/** Who calls in the end-to-end suites: a service, one member per role, and another restaurant's owner. */
export type Caller = "service" | "owner" | "manager" | "staff" | "stranger";

/** A signed token per caller: staff of `restaurantId` by role, `stranger` the owner of `otherRestaurantId`. */
export async function callerTokens(
  sql: Sql,
  restaurantId: string,
  otherRestaurantId: string,
): Promise<Record<Caller, string>> {
  const member = async (restaurant: string, role: "owner" | "manager" | "staff") =>
    signToken({ role: "authenticated", sub: await addStaff(sql, restaurant, role) });
  return {
    service: await signToken({ role: "service_role" }),
    owner: await member(restaurantId, "owner"),
    manager: await member(restaurantId, "manager"),
    staff: await member(restaurantId, "staff"),
    stranger: await member(otherRestaurantId, "owner"),
  };
}

export const claims = {
  service: { role: "service_role" },
  staff: (sub: string) => ({ role: "authenticated", sub }),
  anon: { role: "anon" },
};

/** A token as Supabase Auth signs them: HS256, `iss` supabase-demo, `iat`, 1 h. */
export function signToken(
  payload: Record<string, unknown>,
  options: { secret?: string; expiresIn?: string | number; issuer?: string } = {},
): Promise<string> {
  return signJwt(payload, {
    secret: options.secret ?? JWT_SECRET,
    issuer: options.issuer ?? "supabase-demo",
    issuedAt: true,
    expiresIn: options.expiresIn ?? "1h",
  });
}

export type Server = StartedServer;

/** Start scripts/serve.ts with the hosted runtime's environment, ready once it listens. */
export function startServer(
  env: Record<string, string> = {},
  options: { inspect?: boolean } = {},
): Promise<Server> {
  return startToolServer({
    ...options,
    args: ["scripts/serve.ts"],
    env: {
      SUPABASE_DB_URL: PRODUCT_DB_URL,
      SUPABASE_URL: "http://127.0.0.1:9",
      SUPABASE_JWT_SECRET: JWT_SECRET,
      SUPABASE_SECRET_KEYS: JSON.stringify({ default: SECRET_KEY }),
      SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: PUBLISHABLE_KEY }),
      CONSENT_TOKEN_SECRET,
      ...env,
    },
  });
}

/** What an end-to-end suite starts once: a server, two restaurants, a token per caller. */
export interface Stage {
  server: Server;
  restaurantId: string;
  otherRestaurantId: string;
  tokens: Record<Caller, string>;
}

/** Start a stage (in `beforeAll`; the suite's `afterAll` stops its server). */
export async function startStage(): Promise<Stage> {
  const server = await startServer();
  const setup = adminSql();
  try {
    const restaurantId = await createRestaurant(setup);
    const otherRestaurantId = await createRestaurant(setup);
    const tokens = await callerTokens(setup, restaurantId, otherRestaurantId);
    return { server, restaurantId, otherRestaurantId, tokens };
  } catch (error) {
    await server.stop();
    throw error;
  } finally {
    await setup.end({ timeout: 1 });
  }
}

// Answers are read as loose JSON; their shapes are what the tests assert.
// deno-lint-ignore no-explicit-any
export type Body = Record<string, any>;

/** POST `body` as JSON to function `fn` with `token`: the status and the answer. */
export async function callWith(
  base: string,
  token: string,
  fn: string,
  body: unknown,
): Promise<{ status: number; body: Body }> {
  const answer = await send(base, fn, JSON.stringify(body), jsonHeaders(token));
  return { status: answer.status, body: answer.body as Body };
}

/** A database of its own migrated up to (not including) one migration, to test that migration's upgrade. */
export interface OldDatabase {
  sql: Sql;
  /** Call private.<fn> with named arguments, as the code of that time would. */
  call(fn: string, args: Record<string, unknown>): Promise<unknown>;
  /** Apply the migration under test. */
  upgrade(): Promise<void>;
}

export async function withDatabaseBefore<T>(
  migration: string,
  fn: (old: OldDatabase) => Promise<T>,
): Promise<T> {
  const admin = adminSql();
  const name = `upgrade_${crypto.randomUUID().replaceAll("-", "")}`;
  await admin.unsafe(`create database ${name}`);
  const url = new URL(DB_URL);
  url.pathname = `/${name}`;
  const old = postgres(url.href, { prepare: false, max: 1, onnotice: () => {} });
  try {
    const dir = new URL("../supabase/", import.meta.url);
    const files = [...Deno.readDirSync(new URL("migrations/", dir))].map((e) => e.name).sort();
    const at = files.indexOf(migration);
    if (at < 0) throw new Error(`no migration ${migration}`);
    const apply = async (file: string) =>
      void await old.unsafe(await Deno.readTextFile(new URL(file, dir)));
    await apply("local/bootstrap.sql");
    for (const file of files.slice(0, at)) await apply(`migrations/${file}`);
    return await fn({
      sql: old,
      call: (name, args) =>
        old.unsafe(
          `select private.${name}(${
            Object.keys(args).map((k, i) => `${k} => $${i + 1}`).join(", ")
          })`,
          Object.values(args) as never,
        ),
      upgrade: () => apply(`migrations/${migration}`),
    });
  } finally {
    await old.end({ timeout: 1 });
    await admin.unsafe(`drop database ${name} with (force)`);
    await admin.end({ timeout: 1 });
  }
}

/** A database of its own with every migration applied (as SQL files), dropped afterwards. */
export async function withMigratedDatabase<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const admin = adminSql();
  const name = `migrated_${crypto.randomUUID().replaceAll("-", "")}`;
  await admin.unsafe(`create database ${name}`);
  const url = new URL(DB_URL);
  url.pathname = `/${name}`;
  const db = postgres(url.href, { prepare: false, max: 1, onnotice: () => {} });
  try {
    const dir = new URL("../supabase/", import.meta.url);
    const files = [...Deno.readDirSync(new URL("migrations/", dir))].map((e) => e.name).sort();
    for (const file of ["local/bootstrap.sql", ...files.map((f) => `migrations/${f}`)]) {
      await db.unsafe(await Deno.readTextFile(new URL(file, dir)));
    }
    await db.end({ timeout: 1 });
    return await fn(url.href);
  } finally {
    await db.end({ timeout: 1 });
    await admin.unsafe(`drop database ${name} with (force)`);
    await admin.end({ timeout: 1 });
  }
}
