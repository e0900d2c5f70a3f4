// The statements `npm run bench:floor` times (bench/floor_statements.ts) run
// against the current schema and leave what the upsert leaves: the guest, its
// contacts, its profile with the booking's numbers (no drift from the
// recount), the booking's state, and every other guest's opt-in evidence. A
// schema change that the floor no longer matches fails here.
import {
  bindable,
  floorStatement,
  type FloorWorkload,
  RETURNING_SETUP,
  upsertStatement,
} from "../bench/floor_statements.ts";
import { upsertParameterNames } from "../bench/instruction_workloads.ts";
import { type Client, connect } from "../bench/pg.ts";
import { assertEquals } from "./assert.ts";
import { DB_URL } from "./helpers.ts";

let client: Client;
let restaurantId: string;
Deno.test.beforeEach(async () => {
  client = await connect(DB_URL);
  const { rows } = await client.query<{ id: string }>(
    "insert into public.restaurants (name, phone_region) values ('Floor Bistro', 'GB') returning id",
  );
  restaurantId = rows[0].id;
});
Deno.test.afterEach(async () => {
  await client.end();
});

async function run(statement: string, values: Record<string, string | number>): Promise<void> {
  const { text, names } = bindable(statement);
  await client.query(text, names.map((name) => values[name]));
}

/** Per guest of the restaurant, by email: bookings counted, states held, opt-in evidence. */
async function guests(): Promise<Record<string, [number, number, number, boolean]>> {
  const { rows } = await client.query<{ email: string; row: [number, number, number, boolean] }>(
    `select c.email_normalized as email, json_build_array(
       p.total_bookings,
       (select count(*) from public.customer_bookings b where b.customer_id = c.id),
       (select count(*) from public.consent_events e where e.customer_id = c.id),
       p.marketing_opt_in_at is not null) as row
     from public.customers c join public.customer_profiles p on p.customer_id = c.id
     where c.restaurant_id = $1`,
    [restaurantId],
  );
  return Object.fromEntries(rows.map((r) => [r.email, r.row]));
}

async function drift(): Promise<unknown[]> {
  const { rows } = await client.query("select * from private.profile_drift($1)", [restaurantId]);
  return rows;
}

async function contacts(): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    "select count(*)::integer as n from public.customer_contacts where restaurant_id = $1",
    [restaurantId],
  );
  return rows[0].n;
}

Deno.test("bench:floor's new guests: each row once, with the profile its booking gives", async () => {
  for (const n of [1, 2, 3]) await run(floorStatement("new"), { rid: restaurantId, n });
  assertEquals(await guests(), {
    "g1@example.com": [1, 1, 0, false],
    "g2@example.com": [1, 1, 1, true],
    "g3@example.com": [1, 1, 0, false],
  });
  assertEquals(await contacts(), 6);
  assertEquals(await drift(), []);
});

Deno.test("bench:floor's returning guests: a state each, the profile moved by it", async () => {
  await client.query(RETURNING_SETUP, [restaurantId, 2]);
  for (const r of [1, 2, 1]) await run(floorStatement("returning"), { rid: restaurantId, r });
  assertEquals(await guests(), {
    "r1@example.com": [2, 2, 0, false],
    "r2@example.com": [1, 1, 0, false],
  });
  assertEquals(await drift(), []);
});

for (const workload of ["new", "returning"] as FloorWorkload[]) {
  Deno.test(`bench:floor's ${workload} upsert runs as written against the tree's signature`, async () => {
    if (workload === "returning") await client.query(RETURNING_SETUP, [restaurantId, 2]);
    const names = await upsertParameterNames(client);
    await run(upsertStatement(workload, names), { rid: restaurantId, n: 2, r: 1 });
    const email = workload === "new" ? "g2@example.com" : "r1@example.com";
    // A new guest who opts in (n even) has its evidence; a returning guest its booking.
    assertEquals((await guests())[email], workload === "new" ? [1, 1, 1, true] : [1, 1, 0, false]);
  });
}
