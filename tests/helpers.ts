// Test fixtures: the migrated test database (TEST_DB_URL, made by
// scripts/test.mjs), tokens signed like Supabase's, and a real functions
// server started as its own process.
import { SignJWT } from "jose";
import postgres from "postgres";
import { createDb, type Db } from "../supabase/functions/_shared/db.ts";

/** The tests' own SQL client (tagged templates); the product calls go through `Db`. */
export type Sql = postgres.Sql;

export const DB_URL = Deno.env.get("TEST_DB_URL") ?? "";
if (!DB_URL) throw new Error("TEST_DB_URL is not set: run the suite with `npm test`");

export const JWT_SECRET = Deno.env.get("SUPABASE_JWT_SECRET") ??
  "super-secret-jwt-token-with-at-least-32-characters-long";
export const SECRET_KEY = "sb_secret_test_key_for_the_suite_0001";
export const PUBLISHABLE_KEY = "sb_publishable_test_key_for_the_suite_01";

let admin: Sql | null = null;
let db: Db | null = null;
/** A pool connected as the database owner, for the tests' own queries. */
export function adminSql(): Sql {
  admin ??= postgres(DB_URL, { prepare: false, max: 4, onnotice: () => {} });
  return admin;
}

/** The product's database access (what SUPABASE_DB_URL gives the functions). */
export function testDb(): Db {
  db ??= createDb(DB_URL, { max: 4 });
  return db;
}

export async function closeAdmin(): Promise<void> {
  await admin?.end({ timeout: 1 });
  await db?.end();
  admin = null;
  db = null;
}

/** A pool of the product's database access of its own, for parallel-connection tests. */
export function newDb(max: number): Db {
  return createDb(DB_URL, { max });
}

/** A fresh connection pool of its own, for parallel-connection tests. */
export function newPool(max: number): Sql {
  return postgres(DB_URL, { prepare: false, max, onnotice: () => {} });
}

export interface OffLedger {
  customerId: string;
  /** [bookings, covers, cancellations] as the profile says and as the ledger says. */
  profile: number[];
  ledger: number[];
}

/**
 * Profiles whose counters differ from their ledger (of one restaurant, or of
 * all): the invariant every suite checks after its work.
 */
export async function profilesOffLedger(sql: Sql, restaurantId?: string): Promise<OffLedger[]> {
  const rows = await sql`
    select p.customer_id, p.total_bookings, p.total_covers, p.total_cancellations,
      count(e.*) filter (where e.kind = 'booking')::int as bookings,
      coalesce(sum(e.covers) filter (where e.kind = 'booking'), 0)::int as covers,
      count(e.*) filter (where e.kind = 'cancellation')::int as cancellations
    from public.customer_profiles p
    left join public.customer_booking_events e on e.customer_id = p.customer_id
    where ${restaurantId ?? null}::uuid is null or p.restaurant_id = ${restaurantId ?? null}::uuid
    group by p.customer_id`;
  return rows
    .map((r) => ({
      customerId: r.customer_id,
      profile: [r.total_bookings, r.total_covers, r.total_cancellations],
      ledger: [r.bookings, r.covers, r.cancellations],
    }))
    .filter((r) => r.profile.join() !== r.ledger.join());
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

export async function addStaff(sql: Sql, restaurantId: string): Promise<string> {
  const userId = crypto.randomUUID();
  await sql`
    insert into public.restaurant_memberships (restaurant_id, user_id)
    values (${restaurantId}, ${userId})`;
  return userId;
}

export const claims = {
  service: { role: "service_role" },
  staff: (sub: string) => ({ role: "authenticated", sub }),
  anon: { role: "anon" },
};

export async function signToken(
  payload: Record<string, unknown>,
  options: { secret?: string; expiresIn?: string | number; issuer?: string } = {},
): Promise<string> {
  return await new SignJWT(payload)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer(options.issuer ?? "supabase-demo")
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? "1h")
    .sign(new TextEncoder().encode(options.secret ?? JWT_SECRET));
}

export interface Server {
  url: string;
  pid: number;
  logs: string[];
  stop(): Promise<void>;
}

/** Start scripts/serve.ts on a free port with the hosted runtime's environment. */
export async function startServer(env: Record<string, string> = {}): Promise<Server> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", "scripts/serve.ts"],
    env: {
      PORT: "0",
      SUPABASE_DB_URL: DB_URL,
      SUPABASE_URL: "http://127.0.0.1:9",
      SUPABASE_JWT_SECRET: JWT_SECRET,
      SUPABASE_SECRET_KEYS: JSON.stringify({ default: SECRET_KEY }),
      SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: PUBLISHABLE_KEY }),
      ...env,
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const logs: string[] = [];
  let resolveUrl: (url: string) => void;
  const listening = new Promise<string>((resolve) => (resolveUrl = resolve));
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let buffered = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buffered += chunk;
      let newline;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        logs.push(line);
        const match = /"msg":"listening","url":"([^"]+)"/.exec(line);
        if (match) resolveUrl(match[1]);
      }
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const url = await Promise.race([
    listening,
    child.status.then((s) => {
      throw new Error(`server exited (${s.code}): ${logs.join("\n")}`);
    }),
  ]);
  return {
    url,
    pid: child.pid,
    logs,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      await child.status;
      await pumps;
    },
  };
}

/**
 * Deno.test without the op/resource sanitizers: the pools are shared across
 * tests of a file on purpose (as in an isolate) and closed by its last test.
 */
export function test(name: string, fn: () => Promise<void> | void): void {
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });
}
