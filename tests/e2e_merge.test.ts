// Duplicate guests over HTTP, as an app and a restaurant's managers would
// call them (supabase-js functions.invoke and plain fetch): candidates
// listed and dismissed, merged and unmerged, who may, and the error bodies
// of every refusal (which change nothing).
import { createClient, FunctionsHttpError } from "@supabase/supabase-js";
import { assert, assertEquals } from "./assert.ts";
import {
  adminSql,
  type Body,
  type Caller,
  callWith,
  profileDrift,
  type Server,
  type Sql,
  startStage,
} from "./helpers.ts";

let server: Server;
let sql: Sql;
let restaurantId: string;
let otherRestaurantId: string;
let tokens: Record<Caller, string>;

Deno.test.beforeAll(async () => {
  ({ server, restaurantId, otherRestaurantId, tokens } = await startStage());
});
Deno.test.afterAll(async () => {
  await server?.stop();
});
Deno.test.beforeEach(() => {
  sql = adminSql();
});
Deno.test.afterEach(() => sql.end({ timeout: 1 }));

const call = (fn: string, body: unknown, who: Caller = "service") =>
  callWith(server.url, tokens[who], fn, body);

/** supabase-js as an app would call a function, with the error body read back. */
async function invoke(name: string, body: unknown, who: keyof typeof tokens = "service") {
  const client = createClient(server.url, "anon-key-not-used", {
    auth: { persistSession: false, autoRefreshToken: false },
    global: { headers: { Authorization: `Bearer ${tokens[who]}` } },
  });
  const { data, error } = await client.functions.invoke(name, { body: body as object });
  if (error instanceof FunctionsHttpError) {
    const response = error.context as Response;
    return { status: response.status, body: await response.json() as Body };
  }
  if (error) throw error;
  return { status: 200, body: data as Body };
}

function isError(r: { status: number; body: Body }, status: number, code: string) {
  assertEquals([r.status, r.body?.error?.code], [status, code], JSON.stringify(r.body));
  assert(typeof r.body.error.message === "string" && r.body.error.message.length > 0);
}

let n = 0;
/** A guest of the restaurant, made through the upsert. */
async function guest(extra: Body = {}, restaurant = restaurantId): Promise<Body> {
  n++;
  const r = await call("customers-upsert", {
    restaurantId: restaurant,
    email: `guest${n}.${crypto.randomUUID().slice(0, 8)}@merge.example`,
    ...extra,
  });
  assertEquals(r.status, 200, JSON.stringify(r.body));
  return r.body.customer;
}

/** A snapshot of what a refusal must leave unchanged. */
async function state() {
  const [row] = await sql`
    select (select count(*) from public.customers where merged_into is not null)::int as merged,
           (select count(*) from public.customer_merges where unmerged_at is not null)::int as unmerged,
           (select count(*) from public.customer_duplicates where dismissed_at is not null)::int as dismissed,
           (select count(*) from public.customer_merges)::int as merges`;
  return row;
}

Deno.test("customer-duplicates: staff list pairs a page at a time; owners and managers dismiss; staff get 403", async () => {
  const a = await guest({ phone: "+447912345701" });
  const b = await guest({ phone: "+447912345702" });
  const c = await guest({ phone: "+447912345703" });
  await call("customers-upsert", { restaurantId, email: a.email, phone: b.phone });
  await call("customers-upsert", { restaurantId, email: a.email, phone: c.phone });
  const first = await invoke("customer-duplicates", { restaurantId, limit: 1 }, "staff");
  assertEquals(first.status, 200);
  assertEquals(first.body.pairs.length, 1);
  const [pair] = first.body.pairs;
  assertEquals(Object.keys(pair).sort(), [
    "firstSeenAt",
    "guests",
    "lastSeenAt",
    "reasons",
    "timesSeen",
  ]);
  assertEquals(Object.keys(pair.guests[0]).sort(), ["consent", "customer", "profile"]);
  assert(typeof first.body.nextCursor === "string");
  const second = await invoke("customer-duplicates", {
    restaurantId,
    limit: 1,
    cursor: first.body.nextCursor,
  }, "staff");
  assertEquals(second.status, 200);
  assert(second.body.pairs.length === 1);
  assert(second.body.pairs[0].lastSeenAt <= pair.lastSeenAt);

  const before = await state();
  isError(
    await invoke("customer-duplicates", { restaurantId, dismiss: [a.id, b.id] }, "staff"),
    403,
    "forbidden",
  );
  isError(
    await call("customer-duplicates", { restaurantId, dismiss: [a.id, a.id] }, "manager"),
    400,
    "duplicate_ids",
  );
  isError(
    await call("customer-duplicates", { restaurantId, dismiss: [a.id] }, "manager"),
    400,
    "invalid_request",
  );
  isError(await call("customer-duplicates", { restaurantId, limit: 0 }), 400, "invalid_request");
  isError(
    await call("customer-duplicates", { restaurantId, cursor: "abc1" }),
    400,
    "invalid_cursor",
  );
  isError(await call("customer-duplicates", { restaurantId, page: 2 }), 400, "invalid_request");
  isError(
    await call("customer-duplicates", { restaurantId: otherRestaurantId, dismiss: [a.id, b.id] }),
    404,
    "customer_not_found",
  );
  isError(await call("customer-duplicates", { restaurantId }, "stranger"), 403, "forbidden");
  assertEquals(await state(), before);

  const dismissed = await invoke(
    "customer-duplicates",
    { restaurantId, dismiss: [a.id, b.id] },
    "manager",
  );
  assertEquals([dismissed.status, dismissed.body.dismissed], [200, true]);
  const all = await call("customer-duplicates", { restaurantId, limit: 100 }, "staff");
  const ids = all.body.pairs.map((p: Body) =>
    p.guests.map((g: Body) => g.customer.id).sort().join()
  );
  assert(!ids.includes([a.id, b.id].sort().join()), "a dismissed pair is never listed again");
  assert(ids.includes([a.id, c.id].sort().join()));
});

Deno.test("customers-merge and customers-unmerge over HTTP: shapes, roles, and every refusal's body", async () => {
  const bookingId = crypto.randomUUID();
  const t = await guest({ name: "Target Guest" });
  const s = await guest({
    phone: "+447912345751",
    booking: {
      id: bookingId,
      covers: 3,
      startsAt: "2026-05-01T19:00:00Z",
      updatedAt: "2026-04-01T10:00:00Z",
    },
  });
  const before = await state();
  isError(
    await invoke("customers-merge", { restaurantId, targetId: t.id, sourceIds: [s.id] }, "staff"),
    403,
    "forbidden",
  );
  isError(
    await call("customers-merge", { restaurantId, targetId: t.id, sourceIds: [t.id] }),
    400,
    "merge_into_self",
  );
  isError(
    await call("customers-merge", { restaurantId, targetId: t.id, sourceIds: [s.id, s.id] }),
    400,
    "duplicate_ids",
  );
  isError(
    await call("customers-merge", { restaurantId, targetId: t.id, sourceIds: [] }),
    400,
    "invalid_request",
  );
  isError(
    await call("customers-merge", {
      restaurantId,
      targetId: t.id,
      sourceIds: [
        crypto.randomUUID(),
        crypto.randomUUID(),
        crypto.randomUUID(),
        crypto.randomUUID(),
      ],
    }),
    400,
    "invalid_request",
  );
  isError(
    await call("customers-merge", { restaurantId, targetId: t.id, sourceIds: ["nope"] }),
    400,
    "invalid_request",
  );
  const foreign = await guest({}, otherRestaurantId);
  isError(
    await call("customers-merge", { restaurantId, targetId: t.id, sourceIds: [foreign.id] }),
    404,
    "customer_not_found",
  );
  isError(
    await call("customers-merge", { restaurantId, targetId: t.id, sourceIds: [s.id] }, "stranger"),
    403,
    "forbidden",
  );
  assertEquals(await state(), before);

  const merged = await invoke("customers-merge", {
    restaurantId,
    targetId: t.id,
    sourceIds: [s.id],
  }, "manager");
  assertEquals(merged.status, 200, JSON.stringify(merged.body));
  assertEquals(Object.keys(merged.body).sort(), ["consent", "customer", "mergeId", "profile"]);
  assertEquals(merged.body.customer.id, t.id);
  assertEquals(merged.body.customer.phones, ["+447912345751"]);
  assertEquals([merged.body.profile.totalBookings, merged.body.profile.totalCovers], [1, 3]);

  // The source id now stands for the target.
  const looked = await call("customer-lookup", { restaurantId, customerId: s.id }, "staff");
  assertEquals([looked.status, looked.body.customer.id], [200, t.id]);
  const cancelled = await call("customer-cancel", { restaurantId, bookingId, customerId: s.id });
  assertEquals(
    [cancelled.status, cancelled.body.customer.id, cancelled.body.cancellationRecorded],
    [
      200,
      t.id,
      true,
    ],
  );
  const byPhone = await call("customers-upsert", { restaurantId, phone: "+44 7912 345751" });
  assertEquals(byPhone.body.customer.id, t.id);
  isError(
    await call("customers-merge", { restaurantId, targetId: s.id, sourceIds: [t.id] }),
    409,
    "already_merged",
  );

  isError(
    await invoke("customers-unmerge", { restaurantId, mergeId: merged.body.mergeId }, "staff"),
    403,
    "forbidden",
  );
  isError(
    await call("customers-unmerge", { restaurantId, mergeId: crypto.randomUUID() }),
    404,
    "merge_not_found",
  );
  isError(
    await call("customers-unmerge", {
      restaurantId: otherRestaurantId,
      mergeId: merged.body.mergeId,
    }),
    404,
    "merge_not_found",
  );
  isError(await call("customers-unmerge", { restaurantId }), 400, "invalid_request");
  const undone = await invoke(
    "customers-unmerge",
    { restaurantId, mergeId: merged.body.mergeId },
    "owner",
  );
  assertEquals(undone.status, 200, JSON.stringify(undone.body));
  assertEquals(Object.keys(undone.body).sort(), ["mergeId", "sources", "target", "unmerged"]);
  assertEquals(undone.body.sources[0].customer.id, s.id);
  assertEquals(undone.body.sources[0].profile.totalCancellations, 1);
  assertEquals(undone.body.target.profile.totalBookings, 0);
  // The phone the merge put in the target's empty slot went back with its guest.
  assertEquals([undone.body.target.customer.phone, undone.body.target.customer.phones], [null, []]);
  assertEquals(undone.body.sources[0].customer.phone, "+447912345751");
  isError(
    await call("customers-unmerge", { restaurantId, mergeId: merged.body.mergeId }),
    409,
    "already_unmerged",
  );
  assertEquals(await profileDrift(sql, restaurantId), []);
});

Deno.test("merges that build on each other: unmerge in reverse order, else merge_superseded", async () => {
  const a = await guest();
  const b = await guest();
  const c = await guest();
  const m1 = await call("customers-merge", { restaurantId, targetId: a.id, sourceIds: [b.id] });
  const m2 = await call("customers-merge", { restaurantId, targetId: c.id, sourceIds: [a.id] });
  assertEquals([m1.status, m2.status], [200, 200]);
  isError(
    await call("customers-unmerge", { restaurantId, mergeId: m1.body.mergeId }),
    409,
    "merge_superseded",
  );
  assertEquals(
    (await call("customers-unmerge", { restaurantId, mergeId: m2.body.mergeId })).status,
    200,
  );
  assertEquals(
    (await call("customers-unmerge", { restaurantId, mergeId: m1.body.mergeId })).status,
    200,
  );
  const erased = await call("customers-merge", { restaurantId, targetId: a.id, sourceIds: [b.id] });
  await call("customer-erase", { restaurantId, customerId: b.id, force: true });
  isError(
    await call("customers-unmerge", { restaurantId, mergeId: erased.body.mergeId }),
    409,
    "customer_erased",
  );
  isError(
    await call("customers-merge", { restaurantId, targetId: c.id, sourceIds: [a.id] }),
    409,
    "customer_erased",
  );
});
