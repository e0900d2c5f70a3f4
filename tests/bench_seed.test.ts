// The seed design (bench/seed_design.ts) is the baseline the functions are
// compared with: it must run against the current schema, or every request of
// its bench rows is an error and the comparison measures error handling. Its
// known flaws (lost increments under concurrency, replays counted twice) are
// what the bench shows; here one guest, sequentially, is counted right.
import { seedDesignUpsert } from "../bench/seed_design.ts";
import type { Claims } from "../supabase/functions/_shared/auth.ts";
import { assertEquals } from "./assert.ts";
import { adminSql, claims, createRestaurant, type Sql } from "./helpers.ts";

let sql: Sql;
Deno.test.beforeEach(() => {
  sql = adminSql();
});
Deno.test.afterEach(async () => {
  await sql.end({ timeout: 1 });
});

const service = claims.service as Claims;

Deno.test("the seed design creates a guest, finds it by email or phone, and counts its bookings", async () => {
  const restaurantId = await createRestaurant(sql);
  const first = await seedDesignUpsert(sql, service, {
    restaurantId,
    name: "Ada",
    email: "ada@example.com",
    phone: "020 7946 0958",
    marketingOptIn: false,
    booking: { id: crypto.randomUUID(), covers: 2 },
  }, "GB") as { customer: { id: string } };
  const byEmail = await seedDesignUpsert(sql, service, {
    restaurantId,
    email: "ADA@example.com",
    marketingOptIn: false,
    booking: { id: crypto.randomUUID(), covers: 3 },
  }, "GB") as { customer: { id: string } };
  const byPhone = await seedDesignUpsert(sql, service, {
    restaurantId,
    phone: "+44 20 7946 0958",
    marketingOptIn: true,
  }, "GB") as { customer: { id: string } };
  assertEquals([byEmail.customer.id, byPhone.customer.id], [first.customer.id, first.customer.id]);
  const rows = await sql`
    select c.marketing_opt_in, p.total_bookings, p.total_covers
    from public.customers c join public.customer_profiles p on p.customer_id = c.id
    where c.restaurant_id = ${restaurantId}`;
  assertEquals(rows.map((r) => ({ ...r })), [
    { marketing_opt_in: true, total_bookings: 2, total_covers: 5 },
  ]);
});
