// Benchmark workloads: realistic contacts in mixed national/international
// phone formats, for one GB restaurant. Each workload has untimed setup
// requests (run through the SQL function) and the timed requests.
import type { UpsertRequest } from "../supabase/functions/_shared/schemas.ts";

export type WorkloadName = "new" | "returning" | "replays" | "retries" | "cross" | "lifecycle";
export const WORKLOADS: WorkloadName[] = [
  "new",
  "returning",
  "replays",
  "retries",
  "cross",
  "lifecycle",
];
/**
 * Workloads that need this tree's API (booking status and versions): the
 * baseline and the seed design do not run them.
 */
export const CURRENT_ONLY: WorkloadName[] = ["retries", "lifecycle"];
export const HOT = 100;

export interface Workload {
  name: WorkloadName;
  setup: UpsertRequest[];
  requests: UpsertRequest[];
  /** Customers the restaurant must have afterwards. */
  customers: number;
  /** Distinct bookings, i.e. what sum(total_bookings) must be. */
  bookings: number;
}

/** A valid UK mobile number (0<prefix> 000000 + i), written in one of four ways. */
export function ukMobile(prefix: string, i: number, format = i): string {
  const sub = String(i).padStart(6, "0");
  switch (format % 4) {
    case 0:
      return `0${prefix} ${sub}`;
    case 1:
      return `+44 ${prefix} ${sub}`;
    case 2:
      return `0044${prefix}${sub}`;
    default:
      return `(0${prefix}) ${sub.slice(0, 3)}-${sub.slice(3)}`;
  }
}

/** Deterministic UUIDs, so runs are comparable. */
function bookingId(run: string, i: number): string {
  const hex = (i + 1).toString(16).padStart(12, "0");
  const tag = [...run].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7).toString(16).padStart(
    8,
    "0",
  );
  return `${tag}-0000-4000-8000-${hex}`;
}

function startsAt(i: number): string {
  return new Date(Date.UTC(2026, 11, 1, 18) + (i % 90) * 86_400_000).toISOString();
}

/** A small seeded PRNG (mulberry32): the same guests in the same order on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function makeWorkload(name: WorkloadName, restaurantId: string, n: number): Workload {
  const booking = (i: number) => ({
    id: bookingId(name, i),
    covers: 1 + (i % 8),
    startsAt: startsAt(i),
  });
  const hot = (k: number): UpsertRequest => ({
    restaurantId,
    name: `Regular ${k}`,
    email: `Regular.${k}@Example.com`,
    phone: ukMobile("7500", k),
    marketingOptIn: k % 3 === 0,
  });
  switch (name) {
    case "new":
      return {
        name,
        setup: [],
        requests: Array.from({ length: n }, (_, i) => ({
          restaurantId,
          name: `Guest ${i}`,
          email: `guest.${i}@example.com`,
          phone: ukMobile("7400", i),
          marketingOptIn: i % 2 === 0,
          booking: booking(i),
        })),
        customers: n,
        bookings: n,
      };
    case "returning":
    case "replays":
    case "retries": {
      // Returning guests identified by email, by phone (another format), or both,
      // drawn at random so that one guest's bookings do arrive concurrently.
      const draw = random(2026);
      const requests = Array.from({ length: n }, (_, i): UpsertRequest => {
        const k = Math.floor(draw() * HOT);
        const base = hot(k);
        const by = i % 3;
        return {
          restaurantId,
          email: by === 1 ? null : base.email!.toLowerCase(),
          phone: by === 0 ? null : ukMobile("7500", k, i),
          marketingOptIn: false,
          booking: booking(i),
        };
      });
      const setup = Array.from({ length: HOT }, (_, k) => hot(k));
      if (name === "returning") return { name, setup, requests, customers: HOT, bookings: n };
      // replays: the same API calls again, without a version: each is taken
      // as a newer snapshot of the same values (its version is the time it
      // was received), which moves the versions, a write. retries: webhook
      // deliveries sent again, each carrying its booking's version (the host
      // row's updated_at): nothing changes, nothing is written.
      const sent = name === "replays" ? requests : requests.map((r, i) => ({
        ...r,
        booking: {
          ...r.booking!,
          updatedAt: new Date(Date.UTC(2026, 10, 1) + i * 1000).toISOString(),
        },
      }));
      return { name, setup: [...setup, ...sent], requests: sent, customers: HOT, bookings: n };
    }
    case "lifecycle": {
      // Booked guests' bookings change: each is resized, then completed or
      // marked a no-show, each change a newer snapshot of the booking.
      const m = Math.max(1, Math.floor(n / 2));
      const email = (i: number) => `regular.${i % HOT}@example.com`;
      const version = (step: number) =>
        new Date(Date.UTC(2026, 10, 1) + step * 60_000).toISOString();
      const snapshot = (i: number, step: number, status: string, extra: number) => ({
        restaurantId,
        email: email(i),
        marketingOptIn: false,
        booking: {
          ...booking(i),
          covers: booking(i).covers + extra,
          status: status as "confirmed",
          updatedAt: version(step),
        },
      });
      return {
        name,
        setup: [
          ...Array.from({ length: HOT }, (_, k) => hot(k)),
          ...Array.from({ length: m }, (_, i) => snapshot(i, 0, "confirmed", 0)),
        ],
        requests: [
          ...Array.from({ length: m }, (_, i) => snapshot(i, 1, "confirmed", 1)),
          ...Array.from(
            { length: n - m },
            (_, i) => snapshot(i, 2, i % 4 === 0 ? "no_show" : "completed", 1),
          ),
        ],
        customers: HOT,
        bookings: m,
      };
    }
    case "cross":
      // Email of guest k with the phone of guest k+1: every request conflicts.
      return {
        name,
        setup: Array.from({ length: HOT }, (_, k) => ({
          restaurantId,
          name: `Pair ${k}`,
          email: `pair.${k}@example.com`,
          phone: ukMobile("7800", k),
          marketingOptIn: false,
        })),
        requests: Array.from({ length: n }, (_, i) => ({
          restaurantId,
          email: `pair.${i % HOT}@example.com`,
          phone: ukMobile("7800", (i + 1) % HOT),
          marketingOptIn: false,
          booking: booking(i),
        })),
        customers: HOT,
        bookings: n,
      };
  }
}
