// Merge chaos: a model-based check of merges and unmerges amid the booking
// traffic of the same guests, over HTTP from parallel clients. Operations
// (seeded, shuffled): new bookings by any contact of a guest (some bringing
// a new phone, some crossing two guests' contacts), cancellations naming a
// guest by id (which may have become a tombstone) or by email, lifecycle
// updates, merges of random guests in either direction, and unmerges of
// earlier merges. The model:
//   * each booking's final state is its newest change (every change has its
//     own version), whoever owns it;
//   * the live guests' profiles add up to all bookings' final states:
//     nothing lost or counted twice, and the drift check reports nothing;
//   * the tombstones are exactly the sources of the merges that answered
//     200 and were not undone by an unmerge that answered 200, each pointing
//     at its merge's target; no cycle;
//   * every guest's first email still finds the live guest it now belongs
//     to; no contact is held by a tombstone (the unique constraint keeps it
//     off two live guests);
//   * every answer is 200, except merges (409 already_merged or
//     customer_erased never: no erasure here) and unmerges (409
//     already_unmerged, merge_superseded), and never a 5xx.
import type { Sql } from "../helpers.ts";
import { jsonHeaders, parallel, send, type Summary } from "./common.ts";

type Op =
  | { kind: "book"; booking: number; by: "email" | "phone" | "new phone" | "crossed" }
  | { kind: "change"; booking: number; k: number; byCustomerId: boolean; retries?: number }
  | { kind: "merge"; target: number; sources: number[] }
  | { kind: "unmerge"; pick: number };

interface Change {
  version: string;
  status?: "confirmed" | "cancelled" | "completed" | "no_show";
  covers?: number;
}

interface Booking {
  id: string;
  guest: number;
  changes: Change[];
}

const MAX_RETRIES = 1000;

function random(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)],
  };
}

export interface MergeChaosOptions {
  base: string;
  sql: Sql;
  token: string;
  /** Operations to send (bookings, changes, merges, unmerges). */
  operations: number;
  clients: number;
  seed: number;
  /** Guests sharing the traffic. */
  guests?: number;
}

export async function runMergeChaos(o: MergeChaosOptions): Promise<Summary> {
  const failures: string[] = [];
  const rng = random(o.seed);
  const guestCount = o.guests ?? 40;
  const [{ id: restaurantId }] = await o.sql`
    insert into public.restaurants (name, phone_region) values ('Merge chaos', 'GB') returning id`;
  const headers = jsonHeaders(o.token);
  const post = (fn: string, body: unknown) => send(o.base, fn, JSON.stringify(body), headers);
  const tag = `${o.seed}.${crypto.randomUUID().slice(0, 6)}`;
  const email = (g: number) => `g${g}.${tag}@chaos.example`;
  const phone = (g: number) => `+447913${String(100000 + g)}`;

  // The guests, created first (their first contacts precede every merge).
  const ids: string[] = [];
  for (let g = 0; g < guestCount; g++) {
    const r = await post("customers-upsert", { restaurantId, email: email(g), phone: phone(g) });
    if (r.status !== 200) failures.push(`create guest ${g}: ${r.status}`);
    ids.push((r.body as { customer: { id: string } }).customer.id);
  }

  // The operations: about 10% merges and unmerges, the rest booking traffic.
  const t0 = Date.parse("2026-03-01T12:00:00Z");
  const bookings: Booking[] = [];
  const ops: Op[] = [];
  let newPhones = 0;
  while (ops.length < o.operations) {
    const roll = rng.next();
    if (roll < 0.06) {
      const target = rng.int(0, guestCount - 1);
      const sources = new Set<number>();
      for (const n = rng.int(1, 2); sources.size < n;) {
        const s = rng.int(0, guestCount - 1);
        if (s !== target) sources.add(s);
      }
      ops.push({ kind: "merge", target, sources: [...sources] });
    } else if (roll < 0.1) {
      ops.push({ kind: "unmerge", pick: rng.next() });
    } else if (roll < 0.45 || bookings.length === 0) {
      const b: Booking = {
        id: crypto.randomUUID(),
        guest: rng.int(0, guestCount - 1),
        changes: [],
      };
      let version = t0 + rng.int(0, 100_000) * 1000;
      b.changes.push({
        version: new Date(version).toISOString(),
        status: "confirmed",
        covers: rng.int(1, 6),
      });
      for (let k = rng.int(0, 3); k > 0; k--) {
        version += rng.int(1, 10_000);
        const change: Change = { version: new Date(version).toISOString() };
        const what = rng.int(0, 3);
        if (what === 0) change.covers = rng.int(1, 8);
        else change.status = (["cancelled", "completed", "no_show"] as const)[what - 1];
        b.changes.push(change);
      }
      bookings.push(b);
      const by = rng.pick(["email", "email", "phone", "new phone", "crossed"] as const);
      ops.push({ kind: "book", booking: bookings.length - 1, by });
      for (let k = 1; k < b.changes.length; k++) {
        ops.push({
          kind: "change",
          booking: bookings.length - 1,
          k,
          byCustomerId: rng.next() < 0.5,
        });
      }
    }
  }
  // Shuffled: changes may arrive before their booking, merges anywhere.
  for (let i = ops.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [ops[i], ops[j]] = [ops[j], ops[i]];
  }

  const merges: { id: string; target: number; sources: number[] }[] = [];
  const operations = ops.length;
  let retried = 0;
  const unmerged = new Set<string>();
  const answers = new Map<string, number>();
  const note = (what: string, status: number, code?: string) => {
    const key = `${what} ${status}${code ? ` ${code}` : ""}`;
    answers.set(key, (answers.get(key) ?? 0) + 1);
  };
  const errorCode = (body: unknown) => (body as { error?: { code?: string } })?.error?.code;

  await parallel(ops, o.clients, async (op) => {
    if (op.kind === "book") {
      const b = bookings[op.booking];
      const c = b.changes[0];
      const other = (b.guest + 1) % guestCount;
      const contacts = op.by === "email"
        ? { email: email(b.guest) }
        : op.by === "phone"
        ? { phone: phone(b.guest) }
        : op.by === "new phone"
        ? { email: email(b.guest), phone: `+447914${String(100000 + newPhones++)}` }
        : { email: email(b.guest), phone: phone(other) };
      const r = await post("customers-upsert", {
        restaurantId,
        ...contacts,
        booking: {
          id: b.id,
          covers: c.covers,
          status: c.status,
          startsAt: "2026-05-01T19:00:00Z",
          updatedAt: c.version,
        },
      });
      note("upsert", r.status, errorCode(r.body));
      if (r.status !== 200) {
        failures.push(`upsert: ${r.status} ${JSON.stringify(r.body).slice(0, 120)}`);
      }
    } else if (op.kind === "change") {
      const b = bookings[op.booking];
      const c = b.changes[op.k];
      let r;
      if (c.status === "cancelled") {
        r = await post("customer-cancel", {
          restaurantId,
          bookingId: b.id,
          ...(op.byCustomerId ? { customerId: ids[b.guest] } : { email: email(b.guest) }),
          cancelledAt: c.version,
        });
      } else {
        r = await post("booking-update", {
          restaurantId,
          bookingId: b.id,
          status: c.status,
          covers: c.covers,
          updatedAt: c.version,
        });
        // A change that arrives before its booking is refused (404): it
        // goes back in the queue, as a host would retry it.
        if (r.status === 404 && (op.retries ?? 0) < MAX_RETRIES) {
          ops.push({ ...op, retries: (op.retries ?? 0) + 1 });
          retried++;
          return;
        }
      }
      note(c.status === "cancelled" ? "cancel" : "update", r.status, errorCode(r.body));
      if (r.status !== 200) {
        failures.push(`change: ${r.status} ${JSON.stringify(r.body).slice(0, 120)}`);
      }
    } else if (op.kind === "merge") {
      const r = await post("customers-merge", {
        restaurantId,
        targetId: ids[op.target],
        sourceIds: op.sources.map((s) => ids[s]),
      });
      const code = errorCode(r.body);
      note("merge", r.status, code);
      if (r.status === 200) {
        merges.push({ id: (r.body as { mergeId: string }).mergeId, ...op });
      } else if (!(r.status === 409 && code === "already_merged")) {
        failures.push(`merge: ${r.status} ${JSON.stringify(r.body).slice(0, 120)}`);
      }
    } else {
      if (merges.length === 0) return;
      const m = merges[Math.floor(op.pick * merges.length)];
      const r = await post("customers-unmerge", { restaurantId, mergeId: m.id });
      const code = errorCode(r.body);
      note("unmerge", r.status, code);
      if (r.status === 200) unmerged.add(m.id);
      else if (
        !(r.status === 409 && ["already_unmerged", "merge_superseded"].includes(code ?? ""))
      ) {
        failures.push(`unmerge: ${r.status} ${JSON.stringify(r.body).slice(0, 120)}`);
      }
    }
  });

  // The model's tombstones: sources of merges in force.
  const parent = new Map<string, string>();
  for (const m of merges) {
    if (unmerged.has(m.id)) continue;
    for (const s of m.sources) parent.set(ids[s], ids[m.target]);
  }
  const root = (id: string) => {
    for (let n = 0; parent.has(id) && n < 100; n++) id = parent.get(id)!;
    return id;
  };
  const rows = await o.sql`
    select id, merged_into from public.customers where restaurant_id = ${restaurantId}`;
  for (const r of rows) {
    const expected = parent.get(r.id) ?? null;
    if (r.merged_into !== expected) {
      failures.push(`guest ${r.id}: merged_into ${r.merged_into}, model ${expected}`);
    }
  }

  // Each booking's final state, and the totals of the live guests.
  const finals = new Map<string, { status: string; covers: number }>();
  for (const b of bookings) {
    let status = "confirmed", covers = 0;
    for (const c of b.changes) {
      if (c.status) status = c.status;
      if (c.covers) covers = c.covers;
    }
    finals.set(b.id, { status, covers });
  }
  const states = await o.sql`
    select booking_id, status, covers from public.customer_bookings where restaurant_id = ${restaurantId}`;
  if (states.length !== bookings.length) {
    failures.push(`${states.length} booking states, model ${bookings.length}`);
  }
  for (const s of states) {
    const f = finals.get(s.booking_id);
    if (!f || f.status !== s.status || f.covers !== s.covers) {
      failures.push(
        `booking ${s.booking_id}: ${s.status}/${s.covers}, model ${f?.status}/${f?.covers}`,
      );
    }
  }
  const model = [...finals.values()];
  const expect = {
    bookings: model.length,
    covers: model.reduce((n, f) => n + f.covers, 0),
    cancellations: model.filter((f) => f.status === "cancelled").length,
    visits: model.filter((f) => f.status === "completed").length,
    noShows: model.filter((f) => f.status === "no_show").length,
  };
  const [sum] = await o.sql`
    select coalesce(sum(p.total_bookings), 0)::int as bookings, coalesce(sum(p.total_covers), 0)::int as covers,
      coalesce(sum(p.total_cancellations), 0)::int as cancellations,
      coalesce(sum(p.total_visits), 0)::int as visits, coalesce(sum(p.total_no_shows), 0)::int as "noShows"
    from public.customer_profiles p join public.customers c on c.id = p.customer_id
    where p.restaurant_id = ${restaurantId} and c.merged_into is null`;
  if (JSON.stringify(sum) !== JSON.stringify(expect)) {
    failures.push(`live totals ${JSON.stringify(sum)}, model ${JSON.stringify(expect)}`);
  }
  const drift = await o.sql`select customer_id from private.profile_drift(${restaurantId}::uuid)`;
  if (drift.length) failures.push(`${drift.length} profiles off their recount`);
  const [held] = await o.sql`
    select count(*)::int as n from public.customer_contacts x join public.customers c on c.id = x.customer_id
    where x.restaurant_id = ${restaurantId} and (c.merged_into is not null or c.erased_at is not null)`;
  if (held.n) failures.push(`${held.n} contacts held by tombstones`);
  const onTombstones = await o.sql`
    select count(*)::int as n from public.customer_bookings b join public.customers c on c.id = b.customer_id
    where b.restaurant_id = ${restaurantId} and c.merged_into is not null`;
  if (onTombstones[0].n) failures.push(`${onTombstones[0].n} bookings on tombstones`);

  // Every guest's first email finds the live guest it belongs to now.
  for (let g = 0; g < guestCount; g++) {
    const r = await post("customer-lookup", { restaurantId, email: email(g) });
    const found = (r.body as { customer?: { id: string } }).customer?.id;
    if (r.status !== 200 || found !== root(ids[g])) {
      failures.push(`guest ${g}'s email finds ${found} (${r.status}), model ${root(ids[g])}`);
    }
  }

  const summary = [...answers].sort().map(([k, n]) => `${k}: ${n}`).join(", ") +
    `, ${retried} changes sent again after their booking`;
  return {
    suite: "merge chaos",
    tried:
      `${guestCount} guests, bookings/changes/merges/unmerges from ${o.clients} clients (${summary})`,
    count: operations,
    failures,
  };
}
