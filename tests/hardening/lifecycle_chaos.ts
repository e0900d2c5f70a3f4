// Lifecycle chaos: a model-based check of booking states. Each booking lives
// a random life (created, resized, moved, cancelled, reinstated, completed,
// marked no-show, corrected, its cancellation time corrected), one snapshot
// per change with a rising version, as the host's public.bookings row would
// carry it; now and then two changes share a version, as two updates in one
// host transaction share its updated_at. Every snapshot is
// delivered 1–3 times, shuffled, from parallel clients, as a Database
// Webhook to any of the three functions or as the API call staff would make
// (customers-upsert for the creation, booking-update with just the changed
// fields). The model is "the newest snapshot per booking", snapshots of one
// version settled field by field (the later status in STATUS_RANK, between two
// cancellations the later time, the larger party, the later start): at the
// end every guest's profile must equal the aggregate of its bookings' final
// states, every state its final one, and the drift check must report nothing.
import type { Sql } from "../helpers.ts";
import { jsonHeaders, parallel, send, type Summary } from "./common.ts";

type Status = "pending" | "confirmed" | "cancelled" | "completed" | "no_show";

interface Snapshot {
  status: Status;
  party_size: number;
  start_at: string;
  cancelled_at: string | null;
  updated_at: string;
}

interface Life {
  id: string;
  guest: number;
  created_at: string;
  snapshots: Snapshot[];
}

type Delivery =
  | { via: "webhook"; fn: string; life: number; k: number }
  | { via: "api"; life: number; k: number; retries: number };

const FUNCTIONS = ["customers-upsert", "customer-cancel", "booking-update"];
/** How a tie between two statuses of one version is settled: the later in this list. */
const STATUS_RANK: readonly Status[] = [
  "pending",
  "confirmed",
  "completed",
  "no_show",
  "cancelled",
];
const HOUR = 3600_000;
const MAX_RETRIES = 1000;
// The restaurant's window (the default): a cancellation less than this
// before the start is late.
const LATE_WINDOW = 24 * HOUR;

/** A small deterministic generator, so a failing seed can be replayed. */
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

/** A booking's random life: each step changes one thing, as staff or the guest would. */
function live(rng: ReturnType<typeof random>, guest: number, t0: number): Life {
  // Versions are in the past (the database takes a future one as now); the
  // starts are around them, so some cancellations are late.
  let version = t0 + rng.int(0, 1000) * 1000;
  const stamp = () => new Date(version += rng.int(1, 5000)).toISOString();
  const created_at = new Date(version).toISOString();
  let s: Snapshot = {
    status: rng.pick(["pending", "confirmed"] as const),
    party_size: rng.int(1, 8),
    start_at: new Date(t0 + rng.int(2, 72) * HOUR).toISOString(),
    cancelled_at: null,
    updated_at: created_at,
  };
  const snapshots = [s];
  for (let step = rng.int(0, 5); step > 0; step--) {
    // One step in five is a second update in the host's transaction: same version.
    const next: Snapshot = { ...s, updated_at: rng.next() < 0.2 ? s.updated_at : stamp() };
    switch (rng.int(0, 6)) {
      case 0:
        next.party_size = rng.int(1, 12);
        break;
      case 1:
        next.start_at = new Date(t0 + rng.int(2, 72) * HOUR).toISOString();
        break;
      case 2: // cancel, or reinstate a cancelled one
        next.status = s.status === "cancelled" ? "confirmed" : "cancelled";
        break;
      case 3:
        next.status = "completed";
        break;
      case 4:
        next.status = "no_show";
        break;
      case 5: // a disputed outcome corrected
        next.status = s.status === "no_show" ? "completed" : "no_show";
        break;
      case 6: // a cancellation's time corrected (the booking stays cancelled)
        if (s.status === "cancelled") {
          next.cancelled_at = new Date(Date.parse(s.updated_at) - rng.int(0, 48) * HOUR)
            .toISOString();
        }
        break;
    }
    if (next.status !== "cancelled") next.cancelled_at = null;
    else if (s.status !== "cancelled") next.cancelled_at = next.updated_at;
    if (JSON.stringify({ ...next, updated_at: "" }) === JSON.stringify({ ...s, updated_at: "" })) {
      continue;
    }
    snapshots.push(next);
    s = next;
  }
  return { id: crypto.randomUUID(), guest, created_at, snapshots };
}

/**
 * Whether snapshot k can only travel as a webhook's full row. From the first
 * version two snapshots share on, a life goes by webhooks alone: staff's API
 * calls send only what changed, so after a tie a field nobody changed again
 * would keep what the tie settled (the larger party, say) where the host's
 * row has the last write. And booking-update has no cancelledAt: a change of
 * the cancellation time alone is a webhook's.
 */
function fullRowOnly(life: Life, k: number): boolean {
  const tie = life.snapshots.findIndex((s, i) =>
    i > 0 && s.updated_at === life.snapshots[i - 1].updated_at
  );
  if (tie !== -1 && k >= tie - 1) return true;
  const [before, s] = [life.snapshots[k - 1], life.snapshots[k]];
  return before !== undefined && s.status === before.status &&
    s.cancelled_at !== before.cancelled_at;
}

/** What a booking must end as: its newest snapshot, or its newest version's snapshots settled. */
function settled(life: Life): Snapshot {
  const last = life.snapshots[life.snapshots.length - 1];
  const tied = life.snapshots.filter((s) => s.updated_at === last.updated_at);
  const latest = (times: string[]) =>
    times.reduce((a, b) => (Date.parse(b) > Date.parse(a) ? b : a));
  const status = tied.map((s) => s.status).reduce((a, b) =>
    STATUS_RANK.indexOf(b) > STATUS_RANK.indexOf(a) ? b : a
  );
  return {
    status,
    party_size: Math.max(...tied.map((s) => s.party_size)),
    start_at: latest(tied.map((s) => s.start_at)),
    cancelled_at: status === "cancelled"
      ? latest(tied.filter((s) => s.status === "cancelled").map((s) => s.cancelled_at!))
      : null,
    updated_at: last.updated_at,
  };
}

interface Totals {
  bookings: number;
  covers: number;
  cancellations: number;
  late: number;
  visits: number;
  noShows: number;
  first: string | null;
  last: string | null;
  lastVisit: string | null;
}

function totals(finals: Snapshot[]): Totals {
  const time = (s: Snapshot) => Date.parse(s.start_at);
  const iso = (t: number) => new Date(t).toISOString();
  const starts = finals.map(time);
  const visits = finals.filter((s) => s.status === "completed").map(time);
  return {
    bookings: finals.length,
    covers: finals.reduce((n, s) => n + s.party_size, 0),
    cancellations: finals.filter((s) => s.status === "cancelled").length,
    late:
      finals.filter((s) =>
        s.status === "cancelled" && Date.parse(s.cancelled_at!) > time(s) - LATE_WINDOW
      ).length,
    visits: visits.length,
    noShows: finals.filter((s) => s.status === "no_show").length,
    first: starts.length ? iso(Math.min(...starts)) : null,
    last: starts.length ? iso(Math.max(...starts)) : null,
    lastVisit: visits.length ? iso(Math.max(...visits)) : null,
  };
}

export interface LifecycleChaosOptions {
  base: string;
  sql: Sql;
  token: string;
  /** At least this many deliveries in all. */
  deliveries: number;
  clients: number;
  seed: number;
}

export async function runLifecycleChaos(o: LifecycleChaosOptions): Promise<Summary> {
  const rng = random(o.seed);
  const headers = jsonHeaders(o.token);
  const failures: string[] = [];
  let delivered = 0;
  let round = 0;
  while (delivered < o.deliveries && failures.length === 0) {
    round++;
    const [{ id: restaurantId }] = await o.sql`
      insert into public.restaurants (name, phone_region) values ('Lifecycle chaos', 'GB')
      returning id`;
    const guests = rng.int(2, 6);
    const t0 = Date.now() - 400 * 24 * HOUR + round * 4 * HOUR;
    const lives = Array.from(
      { length: rng.int(10, 30) },
      () => live(rng, rng.int(0, guests - 1), t0),
    );
    const email = (guest: number) => `guest${guest}.r${round}@example.com`;
    const row = (life: Life, k: number) => ({
      id: life.id,
      restaurant_id: restaurantId,
      customer_id: null,
      customer_name: `Guest ${life.guest}`,
      customer_email: email(life.guest),
      customer_phone: null,
      marketing_opt_in: false,
      created_at: life.created_at,
      ...life.snapshots[k],
    });

    const deliveries: Delivery[] = [];
    lives.forEach((life, l) =>
      life.snapshots.forEach((_, k) => {
        for (let copies = rng.int(1, 3); copies > 0; copies--) {
          deliveries.push(
            rng.next() < 0.6 || fullRowOnly(life, k)
              ? { via: "webhook", fn: rng.pick(FUNCTIONS), life: l, k }
              : { via: "api", life: l, k, retries: 0 },
          );
        }
      })
    );
    for (let i = deliveries.length - 1; i > 0; i--) {
      const j = rng.int(0, i);
      [deliveries[i], deliveries[j]] = [deliveries[j], deliveries[i]];
    }

    const queue = [...deliveries];
    const deliver = async (d: Delivery) => {
      const life = lives[d.life];
      const s = life.snapshots[d.k];
      let fn: string;
      let body: unknown;
      if (d.via === "webhook") {
        fn = d.fn;
        body = {
          type: d.k === 0 ? "INSERT" : "UPDATE",
          table: "bookings",
          schema: "public",
          record: row(life, d.k),
          old_record: d.k === 0 ? null : row(life, d.k - 1),
        };
      } else if (d.k === 0) {
        fn = "customers-upsert";
        body = {
          restaurantId,
          name: `Guest ${life.guest}`,
          email: email(life.guest),
          booking: {
            id: life.id,
            covers: s.party_size,
            startsAt: s.start_at,
            status: s.status,
            updatedAt: s.updated_at,
          },
        };
      } else {
        // Staff change what changed, nothing else.
        const before = life.snapshots[d.k - 1];
        fn = "booking-update";
        body = {
          restaurantId,
          bookingId: life.id,
          updatedAt: s.updated_at,
          ...(s.status !== before.status ? { status: s.status } : {}),
          ...(s.party_size !== before.party_size ? { covers: s.party_size } : {}),
          ...(s.start_at !== before.start_at ? { startsAt: s.start_at } : {}),
        };
      }
      delivered++;
      const answer = await send(o.base, fn, JSON.stringify(body), headers);
      if (
        answer.status === 404 && d.via === "api" && d.k > 0 && d.retries < MAX_RETRIES &&
        (answer.body as { error?: { code?: string } })?.error?.code === "booking_not_found"
      ) {
        // Not recorded yet: staff would retry, and its creation always arrives.
        queue.push({ ...d, retries: d.retries + 1 });
        await new Promise((resolve) => setTimeout(resolve, 1));
      } else if (answer.status !== 200) {
        failures.push(
          `round ${round}: ${fn} → ${answer.status} ${JSON.stringify(answer.body).slice(0, 160)}`,
        );
      }
    };
    await parallel(queue, o.clients, (d) => deliver(d));

    // The model against what the database holds.
    const finals = lives.map(settled);
    const states = await o.sql`
      select booking_id, status, covers, starts_at, cancelled_at from public.customer_bookings
      where restaurant_id = ${restaurantId}`;
    const byId = new Map(states.map((s) => [s.booking_id, s]));
    lives.forEach((life, l) => {
      const state = byId.get(life.id);
      const want = finals[l];
      const got = state && {
        status: state.status,
        party_size: state.covers,
        start_at: state.starts_at.toISOString(),
        cancelled_at: state.cancelled_at?.toISOString() ?? null,
      };
      const expected = { ...want, updated_at: undefined };
      delete expected.updated_at;
      if (JSON.stringify(got) !== JSON.stringify(expected)) {
        failures.push(
          `round ${round}: booking ${l}: ${JSON.stringify(got)} ≠ ${JSON.stringify(expected)}`,
        );
      }
    });
    const profiles = await o.sql`
      select c.email_normalized as email, p.total_bookings, p.total_covers, p.total_cancellations,
        p.total_late_cancellations, p.total_visits, p.total_no_shows,
        p.first_booking_at, p.last_booking_at, p.last_visit_at
      from public.customers c join public.customer_profiles p on p.customer_id = c.id
      where c.restaurant_id = ${restaurantId}`;
    const iso = (d: Date | null) => d && d.toISOString();
    for (let g = 0; g < guests; g++) {
      const mine = finals.filter((_, l) => lives[l].guest === g);
      const profile = profiles.find((p) => p.email === email(g));
      if (!mine.length) continue;
      const got: Totals | undefined = profile && {
        bookings: profile.total_bookings,
        covers: profile.total_covers,
        cancellations: profile.total_cancellations,
        late: profile.total_late_cancellations,
        visits: profile.total_visits,
        noShows: profile.total_no_shows,
        first: iso(profile.first_booking_at),
        last: iso(profile.last_booking_at),
        lastVisit: iso(profile.last_visit_at),
      };
      const want = totals(mine);
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        failures.push(
          `round ${round}: guest ${g}: ${JSON.stringify(got)} ≠ model ${JSON.stringify(want)}`,
        );
      }
    }
    const [{ drifted }] = await o.sql`
      select count(*)::int as drifted from private.profile_drift(${restaurantId})`;
    if (drifted) failures.push(`round ${round}: ${drifted} profiles drift from their bookings`);
  }
  return {
    suite: "lifecycle chaos",
    tried:
      `booking lives (resize, move, cancel, reinstate, complete, no-show, correct; some changes sharing a version) as snapshots, duplicated and shuffled over ${o.clients} clients, webhooks and API, ${round} restaurants`,
    count: delivered,
    failures,
  };
}
