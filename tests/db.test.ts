// The driver's pool against a server that kills connections: a connection
// Postgres terminated answers its own call with 503 and is never handed out
// again, so the next call on the same pool succeeds.
import type postgres from "postgres";
import { assert, assertEquals } from "./assert.ts";
import type { Claims } from "../supabase/functions/_shared/auth.ts";
import { upsertCustomer } from "../supabase/functions/_shared/customers.ts";
import type { Db } from "../supabase/functions/_shared/db.ts";
import { HttpError } from "../supabase/functions/_shared/http.ts";
import { adminSql, claims, createRestaurant, type Sql, testDb } from "./helpers.ts";

let sql: Sql;
let holder: postgres.ReservedSql;
let db: Db;
Deno.test.beforeEach(async () => {
  sql = adminSql();
  holder = await sql.reserve();
  // One connection: the next call can only get a new one or the killed one back.
  db = testDb(1);
});
Deno.test.afterEach(async () => {
  await holder`select pg_advisory_unlock_all()`;
  holder.release();
  await sql.end({ timeout: 1 });
  await db.end();
});

const upsert = (restaurantId: string, email: string) =>
  upsertCustomer(db, claims.service as Claims, { restaurantId, email, marketingOptIn: false });

/** Resolves once one of the product's connections waits on a lock (observed, at most 10 s). */
async function aCallWaitsOnALock() {
  const until = performance.now() + 10_000;
  while (performance.now() < until) {
    const [{ waiting }] = await sql`
      select count(*)::int as waiting from pg_stat_activity
      where application_name = 'customers-module' and wait_event_type = 'Lock'
        and datname = current_database()`;
    if (waiting > 0) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("the call never waited on the held lock");
}

Deno.test("a connection terminated by the server (57P01) is dropped, not reused", async () => {
  const restaurantId = await createRestaurant(sql);
  const email = "held@example.com";
  await holder`
    select pg_advisory_lock(hashtextextended(${`${restaurantId} e ${email}`}, 0))`;
  const pending = upsert(restaurantId, email).then(() => null, (error: unknown) => error);
  await aCallWaitsOnALock();
  await sql`
    select pg_terminate_backend(pid) from pg_stat_activity
    where application_name = 'customers-module' and wait_event_type = 'Lock'
      and datname = current_database()`;
  const error = await pending;
  assert(error instanceof HttpError && error.status === 503, `expected a 503, got ${error}`);

  // At once, on the same pool of one, before the socket's end may have been
  // read: a fresh connection, not the dead one.
  const next = await upsert(restaurantId, "free@example.com");
  assertEquals(next.customer.email, "free@example.com");
  assertEquals(db.pool.totalCount, 1);
});
