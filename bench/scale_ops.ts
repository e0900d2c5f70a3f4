// The operations the scale benchmark measures at each data size, one entry
// each: how to draw their requests from the filled guests (untimed SQL), the
// function that serves them over HTTP, and the same call through the
// product's own code (for the plan check). An operation whose SQL function
// is missing from the database (a baseline without it) is skipped with a note.
import type { Claims } from "../supabase/functions/_shared/auth.ts";
import {
  cancelBooking,
  eraseCustomer,
  lookupCustomer,
  updateBooking,
  upsertCustomer,
} from "../supabase/functions/_shared/customers.ts";
import type { Db } from "../supabase/functions/_shared/db.ts";
import { mergeCustomers } from "../supabase/functions/_shared/merges.ts";
import type { Client } from "./pg.ts";
import { HOST_EVERY, RESTAURANTS } from "./scale_fill.ts";

export type Body = Record<string, unknown>;

export interface DrawContext {
  /** Guests filled so far: guest numbers 0 … guests-1. */
  guests: number;
  /** Requests wanted (fewer may come back: erased guests, guests without a future booking). */
  n: number;
  seed: number;
  /** The fill's restaurant ids, by number. */
  restaurants: string[];
  /** Unique per draw, for new contacts and bookings. */
  tag: string;
}

export interface ScaleOp {
  name: string;
  /** The function that serves it: POST /functions/v1/<endpoint>. */
  endpoint: string;
  /** private.<requires> must exist, else the operation is skipped. */
  requires: string;
  /** Its cost should not depend on the database's size (the 1.25× target). */
  perGuest: boolean;
  /** Requests per measurement, relative to the run's (erasure is rarer). */
  share: number;
  draw(c: Client, ctx: DrawContext): Promise<Body[]>;
  call(db: Db, claims: Claims, body: Body): Promise<unknown>;
}

/** A small seeded PRNG (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` distinct guest numbers below `guests`, multiples of `step`, drawn uniformly. */
export function guestNumbers(guests: number, n: number, seed: number, step = 1): number[] {
  const draw = random(seed);
  const slots = Math.floor(guests / step);
  const picked = new Set<number>();
  const want = Math.min(n, slots);
  while (picked.size < want) picked.add(Math.floor(draw() * slots) * step);
  return [...picked];
}

const future = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();

/** Living guests by number: restaurant, id, email. */
async function guests(c: Client, numbers: number[]) {
  const { rows } = await c.query<{ restaurant_id: string; id: string; email: string }>(
    `select c.restaurant_id, c.id, c.email_normalized as email
     from unnest($1::bigint[]) with ordinality u(i, n)
     join public.customers c on c.id = md5('g' || u.i)::uuid
     where c.erased_at is null
     order by u.n`,
    [numbers],
  );
  return rows;
}

/** One booking still to come of each drawn guest (the first or the last of them). */
async function futureBookings(c: Client, numbers: number[], last: boolean) {
  const { rows } = await c.query<{ restaurant_id: string; booking_id: string; email: string }>(
    `select c.restaurant_id, b.booking_id, c.email_normalized as email
     from unnest($1::bigint[]) with ordinality u(i, n)
     join public.customers c on c.id = md5('g' || u.i)::uuid
     cross join lateral (
       select b.booking_id from public.customer_bookings b
       where b.customer_id = c.id and b.status in ('pending', 'confirmed')
       order by b.starts_at ${last ? "desc" : "asc"} limit 1
     ) b
     where c.erased_at is null
     order by u.n`,
    [numbers],
  );
  return rows;
}

export const SCALE_OPS: ScaleOp[] = [
  {
    name: "look-up",
    endpoint: "customer-lookup",
    requires: "customer_lookup",
    perGuest: true,
    share: 1,
    draw: async (c, ctx) =>
      (await guests(c, guestNumbers(ctx.guests, ctx.n, ctx.seed))).map((g) => ({
        restaurantId: g.restaurant_id,
        email: g.email,
      })),
    call: (db, claims, body) => lookupCustomer(db, claims, body as never),
  },
  {
    name: "upsert (returning)",
    endpoint: "customers-upsert",
    requires: "customers_upsert",
    perGuest: true,
    share: 1,
    draw: async (c, ctx) =>
      (await guests(c, guestNumbers(ctx.guests, ctx.n, ctx.seed))).map((g, k) => ({
        restaurantId: g.restaurant_id,
        email: g.email,
        marketingOptIn: false,
        booking: { id: crypto.randomUUID(), covers: 1 + (k % 6), startsAt: future(7 + (k % 30)) },
      })),
    call: (db, claims, body) => upsertCustomer(db, claims, body as never),
  },
  {
    name: "upsert (new)",
    endpoint: "customers-upsert",
    requires: "customers_upsert",
    perGuest: true,
    share: 1,
    draw: (_c, ctx) =>
      Promise.resolve(Array.from({ length: ctx.n }, (_, k) => ({
        restaurantId: ctx.restaurants[k % ctx.restaurants.length],
        name: `New Guest ${k}`,
        email: `new.${ctx.tag}.${k}@example.com`,
        marketingOptIn: k % 3 === 0,
        booking: { id: crypto.randomUUID(), covers: 2, startsAt: future(3 + (k % 20)) },
      }))),
    call: (db, claims, body) => upsertCustomer(db, claims, body as never),
  },
  {
    name: "cancel",
    endpoint: "customer-cancel",
    requires: "customer_cancel",
    perGuest: true,
    share: 1,
    draw: async (c, ctx) =>
      (await futureBookings(c, guestNumbers(ctx.guests, ctx.n, ctx.seed), false)).map((b) => ({
        restaurantId: b.restaurant_id,
        bookingId: b.booking_id,
        email: b.email,
      })),
    call: (db, claims, body) => cancelBooking(db, claims, body as never),
  },
  {
    name: "lifecycle update",
    endpoint: "booking-update",
    requires: "booking_update",
    perGuest: true,
    share: 1,
    // Staff mark a guest's latest booking still to come as a visit.
    draw: async (c, ctx) =>
      (await futureBookings(c, guestNumbers(ctx.guests, ctx.n, ctx.seed), true)).map((b) => ({
        restaurantId: b.restaurant_id,
        bookingId: b.booking_id,
        status: "completed",
      })),
    call: (db, claims, body) => updateBooking(db, claims, body as never, new Date().toISOString()),
  },
  {
    // Two guests of one restaurant (i and i + RESTAURANTS): the second is
    // merged into the first (customers-merge).
    name: "merge",
    endpoint: "customers-merge",
    requires: "customers_merge",
    perGuest: true,
    share: 0.25,
    draw: async (c, ctx) => {
      const firsts = guestNumbers(Math.max(0, ctx.guests - RESTAURANTS), ctx.n, ctx.seed);
      const { rows } = await c.query<{ restaurant_id: string; target: string; source: string }>(
        `select a.restaurant_id, a.id as target, b.id as source
         from unnest($1::bigint[]) u(i)
         join public.customers a on a.id = md5('g' || u.i)::uuid
         join public.customers b on b.id = md5('g' || (u.i + $2))::uuid
         where a.erased_at is null and b.erased_at is null
           and a.merged_into is null and b.merged_into is null`,
        [firsts, RESTAURANTS],
      );
      return rows.map((r) => ({
        restaurantId: r.restaurant_id,
        targetId: r.target,
        sourceIds: [r.source],
      }));
    },
    call: (db, claims, body) => mergeCustomers(db, claims, body as never),
  },
  {
    // Guests of restaurants that keep their own booking rows (public.bookings).
    name: "erase",
    endpoint: "customer-erase",
    requires: "customer_erase",
    perGuest: true,
    share: 0.25,
    draw: async (c, ctx) =>
      (await guests(c, guestNumbers(ctx.guests, ctx.n, ctx.seed, HOST_EVERY))).map((g) => ({
        restaurantId: g.restaurant_id,
        customerId: g.id,
        force: true,
      })),
    call: (db, claims, body) => eraseCustomer(db, claims, body as never),
  },
];

/** True when private.<name> exists in the database. */
export async function functionExists(c: Client, name: string): Promise<boolean> {
  const { rows } = await c.query(
    `select from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname = 'private' and p.proname = $1`,
    [name],
  );
  return rows.length > 0;
}
