// Duplicate guests in SQL: several contacts per guest, candidate pairs
// (conflicts, and the folded-name rule), merge and unmerge with their
// audit, consent, erasure and export of merged guests, and who may do what,
// through the product's typed calls and through rpc() (SET ROLE + claims).
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { callFunction, type Db } from "../supabase/functions/_shared/db.ts";
import type {
  CustomerWithProfile,
  DuplicatesResult,
  MergeResult,
  UnmergeResult,
  UpsertResult,
} from "../supabase/functions/_shared/responses.ts";
import {
  addStaff,
  adminSql,
  claims,
  createRestaurant,
  profileDrift,
  type Sql,
  testDb,
  withDatabaseBefore,
} from "./helpers.ts";

let sql: Sql;
let db: Db;
Deno.test.beforeEach(() => {
  sql = adminSql();
  db = testDb();
});
Deno.test.afterEach(async () => {
  await sql.end({ timeout: 1 });
  await db.end();
});

const service = JSON.stringify(claims.service);
const T0 = Date.parse("2026-06-01T18:00:00Z");
const v = (n: number) => new Date(T0 + n * 1000).toISOString();

interface Guest {
  email?: string;
  phone?: string;
  name?: string;
  booking?: { id: string; covers: number; status?: string; startsAt?: string; version?: string };
  optIn?: boolean;
  claims?: string;
}

async function upsert(restaurantId: string, g: Guest): Promise<UpsertResult> {
  return await callFunction(db, "customers_upsert", {
    p_claims: g.claims ?? service,
    p_restaurant_id: restaurantId,
    p_full_name: g.name,
    p_email: g.email,
    p_email_normalized: g.email,
    p_phone: g.phone,
    p_phone_normalized: g.phone,
    p_marketing_opt_in: g.optIn ?? false,
    p_booking_id: g.booking?.id,
    p_booking_covers: g.booking?.covers,
    p_booking_starts_at: g.booking?.startsAt ?? (g.booking ? "2026-05-24T19:30:00Z" : undefined),
    p_booking_status: g.booking?.status,
    p_booking_version: g.booking?.version ?? (g.booking ? v(0) : undefined),
  }) as unknown as UpsertResult;
}

async function merge(
  restaurantId: string,
  targetId: string,
  sourceIds: string[],
  who = service,
): Promise<MergeResult> {
  return await callFunction(db, "customers_merge", {
    p_claims: who,
    p_restaurant_id: restaurantId,
    p_target_id: targetId,
    p_source_ids: sourceIds,
  }) as unknown as MergeResult;
}

async function unmerge(restaurantId: string, mergeId: string, who = service) {
  return await callFunction(db, "customers_unmerge", {
    p_claims: who,
    p_restaurant_id: restaurantId,
    p_merge_id: mergeId,
  }) as unknown as UnmergeResult;
}

async function listPairs(restaurantId: string, opts: { limit?: number; cursor?: string } = {}) {
  return await callFunction(db, "customer_duplicates", {
    p_claims: service,
    p_restaurant_id: restaurantId,
    p_limit: opts.limit,
    p_cursor: opts.cursor,
  }) as unknown as {
    pairs: Extract<DuplicatesResult, { pairs: unknown }>["pairs"];
    nextCursor: string | null;
  };
}

const code = (c: string, m: string) => (e: { code?: string; message?: string }) =>
  e.code === c && e.message === m;

/** The invariants every test ends with: no drift, no contact on two live guests, no cycles. */
async function invariants(restaurantId: string) {
  assertEquals(await profileDrift(sql, restaurantId), []);
  const twice = await sql`
    select x.kind, x.value_normalized from public.customer_contacts x
    join public.customers c on c.id = x.customer_id
    where x.restaurant_id = ${restaurantId} and (c.merged_into is not null or c.erased_at is not null)`;
  assertEquals([...twice], [], "a contact is held by a tombstone");
  const bookingsOnTombstones = await sql`
    select b.booking_id from public.customer_bookings b join public.customers c on c.id = b.customer_id
    where b.restaurant_id = ${restaurantId} and c.merged_into is not null`;
  assertEquals([...bookingsOnTombstones], []);
  const cycles = await sql`
    with recursive walk(start, id, depth) as (
      select c.id, c.merged_into, 1 from public.customers c
      where c.restaurant_id = ${restaurantId} and c.merged_into is not null
      union all
      select w.start, c.merged_into, w.depth + 1 from walk w join public.customers c on c.id = w.id
      where c.merged_into is not null and w.depth < 50
    )
    select start from walk where id = start or depth >= 50`;
  assertEquals([...cycles], []);
}

async function rpc<T>(jwt: Record<string, unknown>, query: string): Promise<T> {
  const role = jwt.role as string;
  const rows = await sql.begin(async (tx) => {
    await tx`select set_config('request.jwt.claims', ${JSON.stringify(jwt)}, true)`;
    await tx.unsafe(`set local role ${role}`);
    return await tx.unsafe(query);
  });
  return (rows[0] as unknown as { r: T }).r;
}

Deno.test("contacts: a second email is kept, resolves the guest, and a cancel by it finds the booking", async () => {
  const r = await createRestaurant(sql);
  const booking = { id: crypto.randomUUID(), covers: 2 };
  const a = await upsert(r, { email: "ann@home.example", phone: "+447700900001", booking });
  const b = await upsert(r, { email: "ann@work.example", phone: "+447700900001" });
  assertEquals([b.customer.id, b.matchedBy, b.contactsAdded], [a.customer.id, "phone", ["email"]]);
  assertEquals(b.customer.email, "ann@home.example");
  assertEquals(b.customer.emails, ["ann@home.example", "ann@work.example"]);
  const byWork = await upsert(r, { email: "ann@work.example" });
  assertEquals([byWork.customer.id, byWork.created], [a.customer.id, false]);
  const cancelled = await callFunction(db, "customer_cancel", {
    p_claims: service,
    p_restaurant_id: r,
    p_booking_id: booking.id,
    p_email_normalized: "ann@work.example",
    p_cancelled_at: v(10),
  }) as unknown as { cancellationRecorded: boolean; customer: { id: string } };
  assertEquals([cancelled.cancellationRecorded, cancelled.customer.id], [true, a.customer.id]);
  // A contact another live guest holds is never moved: the conflict report.
  const other = await upsert(r, { email: "bob@example.org", phone: "+447700900002" });
  const crossed = await upsert(r, { email: "ann@work.example", phone: "+447700900002" });
  assertEquals(crossed.conflict, { customerId: other.customer.id, field: "phone" });
  assertEquals(crossed.contactsAdded, []);
  // The unique constraint, not a convention.
  await assertRejects(
    () =>
      sql`insert into public.customer_contacts (restaurant_id, customer_id, kind, value_normalized, display, added_by)
          values (${r}, ${other.customer.id}, 'email', 'ann@work.example', 'ann@work.example', 'upsert')`,
    (e: { code?: string }) => e.code === "23505",
  );
  // Only canonical contacts, as in customers.
  for (
    const [kind, value] of [["email", "Ann@Work.example"], ["phone", "07700 900001"], [
      "email",
      "ann@work.example\u200b",
    ]]
  ) {
    await assertRejects(
      () =>
        sql`insert into public.customer_contacts (restaurant_id, customer_id, kind, value_normalized, display, added_by)
            values (${r}, ${other.customer.id}, ${kind}, ${value}, ${value}, 'upsert')`,
      (e: { code?: string }) => e.code === "23514",
      value,
    );
  }
  await invariants(r);
});

Deno.test("candidates: every conflict is recorded with first and last time and a count; dismissed pairs never return", async () => {
  const r = await createRestaurant(sql);
  const a = await upsert(r, { email: "a@x.example", phone: "+447700900010" });
  const b = await upsert(r, { email: "b@x.example", phone: "+447700900011" });
  for (let i = 0; i < 3; i++) await upsert(r, { email: "a@x.example", phone: "+447700900011" });
  const page = await listPairs(r);
  assertEquals(page.pairs.length, 1);
  const [pair] = page.pairs;
  assertEquals(pair.reasons, ["conflict"]);
  assertEquals(pair.timesSeen, 3);
  assert(pair.firstSeenAt <= pair.lastSeenAt);
  assertEquals(
    pair.guests.map((g) => g.customer.id).sort(),
    [a.customer.id, b.customer.id].sort(),
  );
  assertEquals(typeof pair.guests[0].profile.totalBookings, "number");
  const dismissed = await callFunction(db, "customer_duplicates", {
    p_claims: service,
    p_restaurant_id: r,
    p_dismiss: [b.customer.id, a.customer.id],
  }) as unknown as { dismissed: boolean };
  assertEquals(dismissed.dismissed, true);
  await upsert(r, { email: "a@x.example", phone: "+447700900011" });
  assertEquals((await listPairs(r)).pairs, []);
});

Deno.test("candidates: equal folded names with a private email domain or a phone prefix; free mail is not a reason", async () => {
  const r = await createRestaurant(sql);
  const a = await upsert(r, { name: "José Müller", email: "jose@acme-corp.example" });
  const b = await upsert(r, { name: "jose  MULLER", email: "j.muller@acme-corp.example" });
  const c = await upsert(r, { name: "Jose Muller", email: "jm@gmail.com" });
  const d = await upsert(r, { name: "Jose Muller", email: "jm2@gmail.com" });
  const e = await upsert(r, { name: "Ada King", phone: "+447700901234" });
  const f = await upsert(r, { name: "ADA KING", phone: "+447700909999" });
  const g = await upsert(r, { name: "Ada King", phone: "+447711119999" });
  const h = await upsert(r, {
    name: "Lin Wu",
    email: "lin@wu-family.example",
    phone: "+447700905555",
  });
  const i = await upsert(r, {
    name: "lin wu",
    email: "l.wu@wu-family.example",
    phone: "+447700901111",
  });
  const key = (x: string, y: string) => [x, y].sort().join();
  const pairs = new Map(
    (await listPairs(r, { limit: 100 })).pairs.map((p) => [
      key(p.guests[0].customer.id, p.guests[1].customer.id),
      p.reasons,
    ]),
  );
  assertEquals(pairs.get(key(a.customer.id, b.customer.id)), ["name_and_email_domain"]);
  assertEquals(pairs.get(key(c.customer.id, d.customer.id)), undefined, "gmail.com is free mail");
  assertEquals(pairs.get(key(e.customer.id, f.customer.id)), ["name_and_phone_prefix"]);
  assertEquals(pairs.get(key(e.customer.id, g.customer.id)), undefined);
  assertEquals(pairs.get(key(h.customer.id, i.customer.id)), [
    "name_and_email_domain",
    "name_and_phone_prefix",
  ]);
  assertEquals(pairs.size, 3);
});

Deno.test("candidates: newest first, one page at a time; a bad cursor is invalid_cursor", async () => {
  const r = await createRestaurant(sql);
  const ids: string[][] = [];
  for (let i = 0; i < 5; i++) {
    const a = await upsert(r, { email: `p${i}a@x.example`, phone: `+4477009002${i}0` });
    const b = await upsert(r, { email: `p${i}b@x.example`, phone: `+4477009002${i}1` });
    await upsert(r, { email: `p${i}a@x.example`, phone: `+4477009002${i}1` });
    ids.push([a.customer.id, b.customer.id].sort());
  }
  const seen: string[][] = [];
  let cursor: string | undefined;
  for (let n = 0; n < 5; n++) {
    const page = await listPairs(r, { limit: 2, cursor });
    seen.push(...page.pairs.map((p) => p.guests.map((g) => g.customer.id).sort()));
    if (!page.nextCursor) break;
    cursor = page.nextCursor;
  }
  assertEquals(seen, [...ids].reverse());
  await assertRejects(
    () => listPairs(r, { cursor: "00zz" }),
    code("PT400", "invalid_cursor"),
  );
  await assertRejects(() => listPairs(r, { limit: 0 }), code("PT400", "invalid_request"));
});

Deno.test("merge: bookings, contacts and host links move; profile recounted; sources are tombstones that stand for the target", async () => {
  const r = await createRestaurant(sql);
  const b1 = crypto.randomUUID(), b2 = crypto.randomUUID(), b3 = crypto.randomUUID();
  const t = await upsert(r, { email: "t@x.example", booking: { id: b1, covers: 2 } });
  const s1 = await upsert(r, {
    name: "Grace Hopper",
    phone: "+447700900301",
    booking: { id: b2, covers: 4, status: "completed" },
  });
  const s2 = await upsert(r, {
    email: "s2@x.example",
    booking: { id: b3, covers: 3, status: "cancelled" },
  });
  await sql`insert into public.bookings (id, restaurant_id, customer_id, party_size, start_at)
            values (${crypto.randomUUID()}, ${r}, ${s1.customer.id}, 2, now())`;
  const merged = await merge(r, t.customer.id, [s1.customer.id, s2.customer.id]);
  assert(merged.mergeId);
  assertEquals(merged.customer.id, t.customer.id);
  assertEquals(merged.customer.name, "Grace Hopper");
  assertEquals(merged.customer.email, "t@x.example");
  assertEquals(merged.customer.emails, ["t@x.example", "s2@x.example"]);
  assertEquals(merged.customer.phones, ["+447700900301"]);
  // The target had no phone: the source's fills its empty primary slot.
  assertEquals(merged.customer.phone, "+447700900301");
  assertEquals(
    [
      merged.profile.totalBookings,
      merged.profile.totalCovers,
      merged.profile.totalVisits,
      merged.profile.totalCancellations,
    ],
    [3, 9, 1, 1],
  );
  const [recount] = await sql`select private.profile_counts(${t.customer.id}) as c`;
  assertEquals(recount.c.totalBookings, 3);
  const tombs = await sql`select id, merged_into from public.customers where id in ${
    sql([s1.customer.id, s2.customer.id])
  }`;
  assert(tombs.every((x) => x.merged_into === t.customer.id));
  const [host] =
    await sql`select count(*)::int as n from public.bookings where customer_id = ${t.customer.id}`;
  assert(host.n >= 1);
  // The audit: who, when, which rows, by id only.
  const [audit] = await sql`select * from public.customer_merges where id = ${merged.mergeId}`;
  assertEquals([audit.target_id, audit.actor_role], [t.customer.id, "service_role"]);
  const items = await sql`select kind, count(*)::int as n from public.customer_merge_items
                          where merge_id = ${merged.mergeId} group by kind order by kind`;
  assertEquals([...items].map((i) => [i.kind, i.n]), [["booking", 2], ["contact", 2], [
    "host_booking",
    1,
  ]]);
  // A source id acts on the target: look-up, cancel, booking update.
  const found = await callFunction(db, "customer_lookup", {
    p_claims: service,
    p_restaurant_id: r,
    p_customer_id: s1.customer.id,
  }) as unknown as CustomerWithProfile;
  assertEquals(found.customer.id, t.customer.id);
  const b4 = crypto.randomUUID();
  const cancel = await callFunction(db, "customer_cancel", {
    p_claims: service,
    p_restaurant_id: r,
    p_booking_id: b4,
    p_customer_id: s2.customer.id,
    p_cancelled_at: v(5),
  }) as unknown as CustomerWithProfile;
  assertEquals(cancel.customer.id, t.customer.id);
  const upd = await callFunction(db, "booking_update", {
    p_claims: service,
    p_restaurant_id: r,
    p_booking_id: b2,
    p_covers: 6,
    p_version: v(20),
  }) as unknown as CustomerWithProfile;
  assertEquals([upd.customer.id, upd.profile.totalCovers], [t.customer.id, 11]);
  // A later upsert with a source's contact finds the target.
  const again = await upsert(r, { phone: "+447700900301" });
  assertEquals([again.customer.id, again.created], [t.customer.id, false]);
  // Sources leave every listing of live guests.
  await assertRejects(
    () =>
      callFunction(db, "customer_lookup", {
        p_claims: service,
        p_restaurant_id: r,
        p_email_normalized: "nobody@x.example",
      }),
    code("PT404", "customer_not_found"),
  );
  await invariants(r);
});

Deno.test("merge consent: a withdrawal on any guest wins over earlier grants; else the earliest opt-in stays", async () => {
  const r = await createRestaurant(sql);
  const grant = async (id: string, granted: boolean) =>
    await callFunction(db, "customer_consent", {
      p_claims: service,
      p_restaurant_id: r,
      p_channel: "email",
      p_granted: granted,
      p_customer_id: id,
    });
  // Target granted, source withdrew later: withdrawn.
  const t1 = await upsert(r, { email: "t1@x.example", optIn: true });
  const s1 = await upsert(r, { email: "s1@x.example", optIn: true });
  await grant(s1.customer.id, false);
  const m1 = await merge(r, t1.customer.id, [s1.customer.id]);
  assertEquals([m1.customer.marketingOptIn, m1.consent.email.state], [false, "withdrawn"]);
  // Both granted: granted, the earliest opt-in time kept.
  const s2 = await upsert(r, { email: "s2@x.example", optIn: true });
  await new Promise((r) => setTimeout(r, 5));
  const t2 = await upsert(r, { email: "t2@x.example", optIn: true });
  const m2 = await merge(r, t2.customer.id, [s2.customer.id]);
  assertEquals(m2.customer.marketingOptIn, true);
  assertEquals(m2.profile.marketingOptInAt, s2.profile.marketingOptInAt);
  // Unmerge restores each guest's own state; the history keeps everything.
  const u1 = await unmerge(r, m1.mergeId);
  assertEquals(u1.target.consent.email.state, "granted");
  assertEquals(u1.sources[0].consent.email.state, "withdrawn");
  const [events] = await sql`select count(*)::int as n from public.consent_events
                             where customer_id = ${t1.customer.id} and source = 'merge'`;
  assertEquals(events.n, 2);
  await invariants(r);
});

Deno.test("unmerge: each source gets back its contacts and bookings; later bookings stay with the target", async () => {
  const r = await createRestaurant(sql);
  const b1 = crypto.randomUUID(), b2 = crypto.randomUUID(), b3 = crypto.randomUUID();
  const t = await upsert(r, { email: "t@u.example", booking: { id: b1, covers: 2 } });
  const s = await upsert(r, { name: "Src", email: "s@u.example", booking: { id: b2, covers: 5 } });
  const m = await merge(r, t.customer.id, [s.customer.id]);
  assertEquals(m.customer.name, "Src");
  const later = await upsert(r, { email: "s@u.example", booking: { id: b3, covers: 1 } });
  assertEquals(later.customer.id, t.customer.id);
  const u = await unmerge(r, m.mergeId);
  assertEquals(u.target.customer.name, null);
  assertEquals([u.target.customer.emails, u.target.profile.totalBookings], [["t@u.example"], 2]);
  assertEquals([u.sources[0].customer.id, u.sources[0].customer.emails], [s.customer.id, [
    "s@u.example",
  ]]);
  assertEquals([u.sources[0].profile.totalBookings, u.sources[0].profile.totalCovers], [1, 5]);
  const back = await upsert(r, { email: "s@u.example" });
  assertEquals(back.customer.id, s.customer.id);
  await assertRejects(() => unmerge(r, m.mergeId), code("PT409", "already_unmerged"));
  await invariants(r);
});

Deno.test("unmerge: a merge a later merge built upon is merge_superseded; erased is customer_erased", async () => {
  const r = await createRestaurant(sql);
  const a = await upsert(r, { email: "a@v.example" });
  const b = await upsert(r, { email: "b@v.example" });
  const c = await upsert(r, { email: "c@v.example" });
  const m1 = await merge(r, a.customer.id, [b.customer.id]);
  const m2 = await merge(r, c.customer.id, [a.customer.id]);
  await assertRejects(() => unmerge(r, m1.mergeId), code("PT409", "merge_superseded"));
  // A chain of tombstones follows to the live guest.
  const found = await callFunction(db, "customer_lookup", {
    p_claims: service,
    p_restaurant_id: r,
    p_customer_id: b.customer.id,
  }) as unknown as CustomerWithProfile;
  assertEquals(found.customer.id, c.customer.id);
  await unmerge(r, m2.mergeId);
  await unmerge(r, m1.mergeId);
  // Erasure of a target erases its sources too; its merges cannot be undone.
  const m3 = await merge(r, a.customer.id, [b.customer.id, c.customer.id]);
  const exported = await callFunction(db, "customer_export", {
    p_claims: service,
    p_restaurant_id: r,
    p_customer_id: b.customer.id,
  }) as unknown as {
    customer: { id: string };
    contacts: { emails: { email: string }[] };
    mergedSources: string[];
  };
  assertEquals(exported.customer.id, a.customer.id);
  assertEquals(exported.contacts.emails.map((e) => e.email).sort(), [
    "a@v.example",
    "b@v.example",
    "c@v.example",
  ]);
  assertEquals(exported.mergedSources.sort(), [b.customer.id, c.customer.id].sort());
  await callFunction(db, "customer_erase", {
    p_claims: service,
    p_restaurant_id: r,
    p_customer_id: c.customer.id,
  });
  const rows = await sql`select id, erased_at, email, full_name from public.customers
                         where id in ${sql([a.customer.id, b.customer.id, c.customer.id])}`;
  assert(rows.every((x) => x.erased_at !== null && x.email === null));
  const [left] =
    await sql`select count(*)::int as n from public.customer_contacts where restaurant_id = ${r}`;
  assertEquals(left.n, 0);
  await assertRejects(() => unmerge(r, m3.mergeId), code("PT409", "customer_erased"));
  await invariants(r);
});

Deno.test("merge refusals: self, an id twice, already merged, another restaurant's guest, bad sizes", async () => {
  const r = await createRestaurant(sql);
  const other = await createRestaurant(sql);
  const a = await upsert(r, { email: "a@w.example" });
  const b = await upsert(r, { email: "b@w.example" });
  const c = await upsert(r, { email: "c@w.example" });
  const x = await upsert(other, { email: "x@w.example" });
  await assertRejects(
    () => merge(r, a.customer.id, [a.customer.id]),
    code("PT400", "merge_into_self"),
  );
  await assertRejects(
    () => merge(r, a.customer.id, [b.customer.id, b.customer.id]),
    code("PT400", "duplicate_ids"),
  );
  await assertRejects(
    () => merge(r, a.customer.id, [x.customer.id]),
    code("PT404", "customer_not_found"),
  );
  await assertRejects(
    () => merge(r, x.customer.id, [a.customer.id]),
    code("PT404", "customer_not_found"),
  );
  await assertRejects(() => merge(r, a.customer.id, []), code("PT400", "invalid_request"));
  await assertRejects(
    () =>
      merge(r, a.customer.id, [
        b.customer.id,
        c.customer.id,
        crypto.randomUUID(),
        crypto.randomUUID(),
      ]),
    code("PT400", "invalid_request"),
  );
  await merge(r, a.customer.id, [b.customer.id]);
  await assertRejects(
    () => merge(r, c.customer.id, [b.customer.id]),
    code("PT409", "already_merged"),
  );
  await assertRejects(
    () => merge(r, b.customer.id, [c.customer.id]),
    code("PT409", "already_merged"),
  );
  await assertRejects(() => unmerge(other, crypto.randomUUID()), code("PT404", "merge_not_found"));
  const [n] =
    await sql`select count(*)::int as n from public.customers where merged_into is not null and restaurant_id = ${r}`;
  assertEquals(n.n, 1);
  await invariants(r);
});

Deno.test("roles, through rpc(): staff list candidates; merge, unmerge and dismiss are for owners, managers and the service", async () => {
  const r = await createRestaurant(sql);
  const staff = { role: "authenticated", sub: await addStaff(sql, r, "staff") };
  const manager = { role: "authenticated", sub: await addStaff(sql, r, "manager") };
  const owner = { role: "authenticated", sub: await addStaff(sql, r, "owner") };
  const a = await upsert(r, { email: "a@rpc.example", phone: "+447700900401" });
  const b = await upsert(r, { email: "b@rpc.example", phone: "+447700900402" });
  await upsert(r, { email: "a@rpc.example", phone: "+447700900402" });
  const [ida, idb] = [a.customer.id, b.customer.id];
  const listed = await rpc<{ pairs: unknown[] }>(
    staff,
    `select public.customer_duplicates('${r}') as r`,
  );
  assertEquals(listed.pairs.length, 1);
  const forbidden = (e: { code?: string }) => e.code === "PT403";
  await assertRejects(
    () =>
      rpc(staff, `select public.customers_merge('${r}', '${ida}', array['${idb}']::uuid[]) as r`),
    forbidden,
  );
  await assertRejects(
    () =>
      rpc(
        staff,
        `select public.customer_duplicates('${r}', dismiss => array['${ida}', '${idb}']::uuid[]) as r`,
      ),
    forbidden,
  );
  const merged = await rpc<{ mergeId: string }>(
    manager,
    `select public.customers_merge('${r}', '${ida}', array['${idb}']::uuid[]) as r`,
  );
  await assertRejects(
    () => rpc(staff, `select public.customers_unmerge('${r}', '${merged.mergeId}') as r`),
    forbidden,
  );
  const undone = await rpc<{ unmerged: boolean }>(
    owner,
    `select public.customers_unmerge('${r}', '${merged.mergeId}') as r`,
  );
  assertEquals(undone.unmerged, true);
  const dismissed = await rpc<{ dismissed: boolean }>(
    owner,
    `select public.customer_duplicates('${r}', dismiss => array['${ida}', '${idb}']::uuid[]) as r`,
  );
  assertEquals(dismissed.dismissed, true);
  const stranger = { role: "authenticated", sub: crypto.randomUUID() };
  await assertRejects(
    () => rpc(stranger, `select public.customer_duplicates('${r}') as r`),
    forbidden,
  );
  await assertRejects(
    () => rpc({ role: "anon" }, `select public.customer_duplicates('${r}') as r`),
    (e: { code?: string }) => e.code === "42501",
  );
  await invariants(r);
});

Deno.test("upgrade: every live guest's email and phone become its contacts; erased guests hold none", async () => {
  await withDatabaseBefore("20261126130000_duplicates.sql", async ({ sql: old, call, upgrade }) => {
    const [{ id: rid }] = await old`
      insert into public.restaurants (name, phone_region) values ('Old', 'GB') returning id`;
    const upsert = async (email: string, phone?: string) =>
      ((await call("customers_upsert", {
        p_claims: claims.service,
        p_restaurant_id: rid,
        p_email: email,
        p_email_normalized: email,
        p_phone: phone ?? null,
        p_phone_normalized: phone ?? null,
      })) as { customers_upsert: UpsertResult }[])[0].customers_upsert.customer.id;
    const both = await upsert("both@old.example", "+447700900501");
    const emailOnly = await upsert("email@old.example");
    const erased = await upsert("erased@old.example", "+447700900502");
    await call("customer_erase", {
      p_claims: claims.service,
      p_restaurant_id: rid,
      p_customer_id: erased,
    });
    await upgrade();
    const rows = await old`
      select customer_id, kind, value_normalized, added_by from public.customer_contacts
      where restaurant_id = ${rid} order by customer_id, kind`;
    const got = [...rows].map((r) => [r.customer_id, r.kind, r.value_normalized, r.added_by]);
    const expected = [
      [both, "email", "both@old.example", "backfill"],
      [both, "phone", "+447700900501", "backfill"],
      [emailOnly, "email", "email@old.example", "backfill"],
    ].sort((a, b) => (a[0] + a[1]).localeCompare(b[0] + b[1]));
    assertEquals(got.sort((a, b) => (a[0] + a[1]).localeCompare(b[0] + b[1])), expected);
    const [found] = await old`
      select private.find_customer(${rid}::uuid, null, null, '+447700900501') as id`;
    assertEquals(found.id, both);
  });
});

Deno.test("a merged id stands for its guest in consent and unsubscribe links; tombstones are never marketable", async () => {
  const r = await createRestaurant(sql);
  const t = await upsert(r, { email: "t@consent.example", optIn: true });
  const s = await upsert(r, { email: "s@consent.example", optIn: true });
  await merge(r, t.customer.id, [s.customer.id]);
  const listed = await sql`select customer_id from private.marketable_customers(
    ${sql.json(claims.service)}, ${r}::uuid, 'email')`;
  assertEquals([...listed].map((x) => x.customer_id), [t.customer.id]);
  const link = await callFunction(db, "consent_unsubscribe", {
    p_restaurant_id: r,
    p_customer_id: s.customer.id,
    p_channel: "email",
  }) as unknown as { recorded: boolean; consent: { email: { state: string } } };
  assertEquals([link.recorded, link.consent.email.state], [true, "withdrawn"]);
  const regrant = await callFunction(db, "customer_consent", {
    p_claims: service,
    p_restaurant_id: r,
    p_channel: "sms",
    p_granted: true,
    p_customer_id: s.customer.id,
  }) as unknown as CustomerWithProfile;
  assertEquals([regrant.customer.id, regrant.consent.sms.state], [t.customer.id, "granted"]);
  const [{ n }] = await sql`select count(*)::int as n from public.consent_events
                            where customer_id = ${s.customer.id} and recorded_at > now() - interval '1 minute'
                              and source in ('unsubscribe_link', 'api')`;
  assertEquals(n, 0, "nothing recorded on the tombstone");
  await invariants(r);
});

Deno.test("a customer a service writes directly (an import) gets its contacts and is found by them", async () => {
  const r = await createRestaurant(sql);
  const id = await rpc<string>(
    { role: "service_role" },
    `with c as (
       insert into public.customers (restaurant_id, full_name, email, email_normalized, phone, phone_normalized)
       values ('${r}', 'Imported Guest', 'imp@x.example', 'imp@x.example', '+447700900601', '+447700900601')
       returning id
     ) select id as r from c`,
  );
  const found = await upsert(r, { phone: "+447700900601", email: "other@x.example" });
  assertEquals([found.customer.id, found.created], [id, false]);
  assertEquals(found.customer.emails, ["imp@x.example", "other@x.example"]);
  await invariants(r);
});
