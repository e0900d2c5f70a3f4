// Row-level security and grants, per role, as PostgREST would run them:
// SET ROLE plus request.jwt.claims inside a transaction.
import type { Claims } from "../supabase/functions/_shared/auth.ts";
import { upsertCustomer } from "../supabase/functions/_shared/customers.ts";
import type { Database } from "../supabase/functions/_shared/database.types.ts";
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { addStaff, adminSql, claims, createRestaurant, type Sql, testDb } from "./helpers.ts";

type CustomerRow = Database["public"]["Tables"]["customers"]["Row"];

let sql: Sql;
Deno.test.beforeEach(() => {
  sql = adminSql();
});
Deno.test.afterEach(() => sql.end({ timeout: 1 }));
const service = claims.service as Claims;

/** Run `query` as `role` with the given JWT claims, like a PostgREST request. */
async function asRole<T>(
  role: "anon" | "authenticated" | "service_role",
  jwt: Record<string, unknown>,
  query: string,
): Promise<T[]> {
  return await sql.begin(async (tx) => {
    await tx`select set_config('request.jwt.claims', ${JSON.stringify(jwt)}, true)`;
    await tx.unsafe(`set local role ${role}`);
    return await tx.unsafe(query);
  }) as T[];
}

const isDenied = (e: { code?: string }) => e.code === "42501";

Deno.test("RLS is enabled on every table in public", async () => {
  const rows = await sql`
    select c.relname, c.relrowsecurity from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind = 'r'`;
  assert(rows.length >= 6);
  for (const r of rows) assert(r.relrowsecurity, `${r.relname} has RLS off`);
});

Deno.test("staff read their restaurant's customers and profiles, and only those", async () => {
  const mine = await createRestaurant(sql);
  const theirs = await createRestaurant(sql);
  const staff = await addStaff(sql, mine);
  const db = testDb(1);
  try {
    await upsertCustomer(db, service, {
      restaurantId: mine,
      email: "mine@example.com",
      marketingOptIn: false,
    });
    await upsertCustomer(db, service, {
      restaurantId: theirs,
      email: "theirs@example.com",
      marketingOptIn: false,
    });
  } finally {
    await db.end();
  }
  const jwt = claims.staff(staff);
  const customers = await asRole<CustomerRow>(
    "authenticated",
    jwt,
    "select * from public.customers",
  );
  assertEquals(customers.map((c) => c.email_normalized), ["mine@example.com"]);
  const profiles = await asRole<{ restaurant_id: string }>(
    "authenticated",
    jwt,
    "select * from public.customer_profiles",
  );
  assertEquals(profiles.map((p) => p.restaurant_id), [mine]);
  const restaurants = await asRole<{ id: string }>(
    "authenticated",
    jwt,
    "select id from public.restaurants",
  );
  assertEquals(restaurants.map((r) => r.id), [mine]);
  const stranger = await asRole(
    "authenticated",
    claims.staff(crypto.randomUUID()),
    "select * from public.customers",
  );
  assertEquals(stranger.length, 0);
});

Deno.test("anon sees nothing and may not call the write functions", async () => {
  for (
    const table of [
      "customers",
      "customer_profiles",
      "customer_bookings",
      "restaurants",
      "bookings",
      "restaurant_memberships",
    ]
  ) {
    await assertRejects(
      () => asRole("anon", claims.anon, `select * from public.${table}`),
      isDenied,
      table,
    );
  }
  for (
    const fn of [
      "public.customers_upsert(uuid,text,text,text,boolean,uuid,integer,timestamptz,text,timestamptz,jsonb)",
      "public.customer_cancel(uuid,uuid,uuid,text,text,timestamptz)",
      "public.set_marketing_consent(uuid,uuid,boolean)",
      "public.booking_update(uuid,uuid,text,integer,timestamptz,timestamptz)",
      "public.customer_lookup(uuid,uuid,text,text)",
      "public.customer_export(uuid,uuid)",
      "public.customer_erase(uuid,uuid,text,boolean)",
      "public.customer_consent(uuid,text,boolean,uuid,text,text,text,text)",
      "public.marketable_customers(uuid,text)",
      "public.customers_merge(uuid,uuid,uuid[])",
      "public.customers_unmerge(uuid,uuid)",
      "public.customer_duplicates(uuid,integer,text,uuid[])",
    ]
  ) {
    const [{ anon, authenticated, service_role }] = await sql`
      select has_function_privilege('anon', ${fn}, 'execute') as anon,
        has_function_privilege('authenticated', ${fn}, 'execute') as authenticated,
        has_function_privilege('service_role', ${fn}, 'execute') as service_role`;
    assertEquals([anon, authenticated, service_role], [false, true, true], fn);
  }
  await assertRejects(
    () =>
      asRole(
        "anon",
        claims.anon,
        `select public.customers_upsert('${crypto.randomUUID()}', email => 'x@y.co')`,
      ),
    isDenied,
  );
});

// The CHECK constraints' validators are the exception: a CHECK runs with the
// rights of whoever writes the row, so everyone may execute them; they are
// pure (immutable), so that grants nothing else.
// So is the folded-name index's function (an index expression too runs
// with the writer's rights).
const VALIDATORS = [
  "private.is_clean_text(text,integer)",
  "private.is_normalized_email(text)",
  "private.is_e164(text)",
  "private.booking_state_valid(customer_bookings)",
  "private.fold_name(text)",
  "private.customer_row_valid(customers)",
  "private.contact_row_valid(customer_contacts)",
  "private.consent_event_valid(consent_events)",
];

Deno.test("the private functions are reachable by no API role", async () => {
  const fns = await sql`
    select p.oid::regprocedure::text as fn from pg_proc p
    join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'private' and p.proname <> 'is_member'
      and p.oid::regprocedure::text <> all(${VALIDATORS})`;
  assert(fns.length >= 6);
  for (const { fn } of fns) {
    for (const role of ["anon", "authenticated", "service_role"]) {
      const [{ ok }] = await sql`select has_function_privilege(${role}, ${fn}, 'execute') as ok`;
      assertEquals(ok, false, `${role} may execute ${fn}`);
    }
  }
  // Exactly these signatures (an overload of a name is not exempt), pure and
  // running with the caller's rights.
  const validators = await sql`
    select p.oid::regprocedure::text as fn, p.provolatile, p.prosecdef from pg_proc p
    where p.oid::regprocedure::text = any(${VALIDATORS})`;
  assertEquals(validators.length, VALIDATORS.length);
  for (const v of validators) {
    assertEquals([v.provolatile, v.prosecdef], ["i", false], `${v.fn}: immutable, not definer`);
    // Everyone may run them: a write by an API role runs the CHECK as that role.
    for (const role of ["anon", "authenticated", "service_role"]) {
      const [{ ok }] = await sql`select has_function_privilege(${role}, ${v.fn}, 'execute') as ok`;
      assertEquals(ok, true, `${role} may execute ${v.fn}`);
    }
  }
});

/** The SQL functions the edge functions call by name (`callFunction(db, "name", …)`). */
function functionsCalledByTheEdge(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: URL) => {
    for (const entry of Deno.readDirSync(dir)) {
      if (entry.isDirectory) walk(new URL(`${entry.name}/`, dir));
      else if (entry.name.endsWith(".ts")) {
        const text = Deno.readTextFileSync(new URL(entry.name, dir));
        for (const m of text.matchAll(/callFunction\(\s*db,\s*"([a-z_]+)"/g)) names.add(m[1]);
      }
    }
  };
  walk(new URL("../supabase/functions/", import.meta.url));
  return names;
}

Deno.test("entry points, triggers and validators set search_path; a helper runs under its caller's", async () => {
  const called = functionsCalledByTheEdge();
  assert(called.has("customers_upsert") && called.has("authorize"), [...called].join(", "));
  // A function is reached from outside when it is public (rpc), a security
  // definer, a trigger, named by a CHECK, an index, a default, a policy, a
  // trigger or a view (run by any writer or reader), or called by the edge
  // functions. A helper's SQL-standard body is bound when created: it needs no
  // path, but it is still a helper, so one reached from outside must set one.
  const fns = await sql<{
    fn: string;
    name: string;
    schema: string;
    pinned: boolean;
    bound: boolean;
    definer: boolean;
    trigger: boolean;
    inDdl: boolean;
    forPublic: boolean;
  }[]>`
    select p.oid::regprocedure::text as fn, p.proname as name, n.nspname as schema,
      coalesce('search_path=""' = any(p.proconfig), false) as pinned,
      p.prosqlbody is not null as bound,
      p.prosecdef as definer,
      p.prorettype = 'trigger'::regtype as trigger,
      exists (
        select from pg_depend d
        where d.refclassid = 'pg_proc'::regclass and d.refobjid = p.oid
          and d.classid in (
            'pg_constraint'::regclass, 'pg_class'::regclass, 'pg_attrdef'::regclass,
            'pg_policy'::regclass, 'pg_trigger'::regclass, 'pg_rewrite'::regclass
          )
      ) as "inDdl",
      exists (
        select from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
        where a.grantee = 0 and a.privilege_type = 'EXECUTE'
      ) as "forPublic"
    from pg_proc p
    join pg_namespace n on n.oid = p.pronamespace
    where n.nspname in ('public', 'private')
      and not exists (
        select from pg_depend e
        where e.classid = 'pg_proc'::regclass and e.objid = p.oid and e.deptype = 'e'
      )`;
  const helpers = fns.filter((f) => !f.pinned && !f.bound);
  for (const f of fns) {
    const outside = f.schema === "public" || f.definer || f.trigger || f.inDdl ||
      called.has(f.name);
    if (outside) assert(f.pinned, `${f.fn} is reached from outside and must set search_path = ''`);
  }
  for (const h of helpers) {
    assertEquals(h.forPublic, false, `${h.fn}: a helper is executable by its owner only`);
    for (const role of ["anon", "authenticated", "service_role"]) {
      const [{ ok }] = await sql`select has_function_privilege(${role}, ${h.fn}, 'execute') as ok`;
      assertEquals(ok, false, `${role} may execute the helper ${h.fn}`);
    }
  }
  // The hot path's helpers are among them (the rule is not vacuous).
  const names = new Set(helpers.map((h) => h.name));
  for (const name of ["customer_doc", "apply_booking", "resolve_customer", "record_consent"]) {
    assert(names.has(name), `${name} is a helper`);
  }
});

Deno.test("staff cannot write customers, profiles or the ledger directly", async () => {
  const restaurantId = await createRestaurant(sql);
  const staff = await addStaff(sql, restaurantId);
  const jwt = claims.staff(staff);
  await assertRejects(
    () =>
      asRole(
        "authenticated",
        jwt,
        `insert into public.customers (restaurant_id, email, email_normalized) values ('${restaurantId}', 'a@b.co', 'a@b.co')`,
      ),
    isDenied,
  );
  await assertRejects(
    () => asRole("authenticated", jwt, "update public.customer_profiles set total_bookings = 99"),
    isDenied,
  );
  await assertRejects(
    () => asRole("authenticated", jwt, "delete from public.customer_bookings"),
    isDenied,
  );
});

Deno.test("staff manage bookings of their restaurant only", async () => {
  const mine = await createRestaurant(sql);
  const theirs = await createRestaurant(sql);
  const staff = await addStaff(sql, mine);
  const jwt = claims.staff(staff);
  const insert = (restaurantId: string) =>
    asRole(
      "authenticated",
      jwt,
      `insert into public.bookings (restaurant_id, party_size, start_at) values ('${restaurantId}', 2, now()) returning id`,
    );
  assertEquals((await insert(mine)).length, 1);
  await assertRejects(() => insert(theirs), isDenied);
});

Deno.test("rpc as service_role goes through the same function", async () => {
  const restaurantId = await createRestaurant(sql);
  const [row] = await asRole<{ r: { created: boolean } }>(
    "service_role",
    claims.service,
    `select public.customers_upsert('${restaurantId}', email => 'svc@example.com') as r`,
  );
  assertEquals(row.r.created, true);
});

Deno.test("rpc: staff look up, change bookings and consent; only owners and managers export and erase", async () => {
  const restaurantId = await createRestaurant(sql);
  const staff = claims.staff(await addStaff(sql, restaurantId));
  const owner = claims.staff(await addStaff(sql, restaurantId, "owner"));
  const bookingId = crypto.randomUUID();
  const [{ r: created }] = await asRole<{ r: { customer: { id: string } } }>(
    "authenticated",
    staff,
    `select public.customers_upsert('${restaurantId}', email => 'rpc.rights@example.com',
       booking_id => '${bookingId}', booking_covers => 2) as r`,
  );
  const id = created.customer.id;
  const [{ r: visited }] = await asRole<
    { r: { applied: boolean; profile: { totalVisits: number } } }
  >(
    "authenticated",
    staff,
    `select public.booking_update('${restaurantId}', '${bookingId}', status => 'completed') as r`,
  );
  assertEquals([visited.applied, visited.profile.totalVisits], [true, 1]);
  const [{ r: found }] = await asRole<{ r: { matchedBy: string } }>(
    "authenticated",
    staff,
    `select public.customer_lookup('${restaurantId}', email => 'rpc.rights@example.com') as r`,
  );
  assertEquals(found.matchedBy, "email");
  await asRole(
    "authenticated",
    staff,
    `select public.customer_consent('${restaurantId}', 'email', true, '${id}')`,
  );
  const listed = await asRole<{ customer_id: string }>(
    "authenticated",
    staff,
    `select * from public.marketable_customers('${restaurantId}', 'email')`,
  );
  assertEquals(listed.map((r) => r.customer_id), [id]);
  for (
    const call of [
      `customer_export('${restaurantId}', '${id}')`,
      `customer_erase('${restaurantId}', '${id}', force => true)`,
    ]
  ) {
    await assertRejects(
      () => asRole("authenticated", staff, `select public.${call}`),
      (e: { code?: string }) => e.code === "PT403",
      call,
    );
  }
  const [{ r: exported }] = await asRole<{ r: { bookings: unknown[] } }>(
    "authenticated",
    owner,
    `select public.customer_export('${restaurantId}', '${id}') as r`,
  );
  assertEquals(exported.bookings.length, 1);
  const [{ r: erased }] = await asRole<{ r: { erased: boolean } }>(
    "authenticated",
    owner,
    `select public.customer_erase('${restaurantId}', '${id}') as r`,
  );
  assertEquals(erased.erased, true);
});
