// Delivery chaos: a model-based property (fast-check). Each scenario is a
// restaurant's guests and bookings; every booking and cancellation is
// delivered 1–3 times, some first as a request abandoned after a few
// milliseconds (a client timeout) and then retried, all shuffled and spread
// over parallel clients. The final customers and counters must equal the
// model exactly.
import fc from "fast-check";
import type { Sql } from "../helpers.ts";
import { jsonHeaders, send, type Summary } from "./common.ts";

interface Guest {
  kind: "email" | "phone" | "both";
  email: string;
  phone: string;
  name: string | null;
}

interface Booking {
  id: string;
  guest: number;
  covers: number;
  cancelled: boolean;
  optIn: boolean;
  startsAt: string;
}

interface Delivery {
  kind: "book" | "cancel";
  booking: number;
  /** Abandon a first attempt after this many ms, then retry (null: send once). */
  abandonAfterMs: number | null;
  format: number;
  /** Deliveries of a cancellation refused so far because its guest was unknown. */
  retries?: number;
}

const MAX_RETRIES = 1000;

interface Scenario {
  guests: Guest[];
  bookings: Booking[];
  deliveries: Delivery[];
}

const PHONE_FORMATS = [
  (n: string) => `+44 7912 ${n}`,
  (n: string) => `07912 ${n.slice(0, 3)} ${n.slice(3)}`,
  (n: string) => `0044 7912${n}`,
  (n: string) => `(07912) ${n}`,
];

function scenarioArb(salt: string): fc.Arbitrary<Scenario> {
  return fc.integer({ min: 3, max: 10 }).chain((guestCount) => {
    const guest = (i: number) =>
      fc.record({
        kind: fc.constantFrom("email" as const, "phone" as const, "both" as const),
        name: fc.option(fc.constantFrom("Ada", "O'Brien", "Zoë Ünal", "李雷"), { nil: null }),
      }).map(({ kind, name }): Guest => ({
        kind,
        name,
        email: `Guest${i}.${salt}@Chaos.Example`,
        phone: String(100000 + i).slice(-6),
      }));
    const booking = fc.record({
      guest: fc.integer({ min: 0, max: guestCount - 1 }),
      covers: fc.integer({ min: 1, max: 12 }),
      cancelled: fc.integer({ min: 0, max: 9 }).map((n) => n < 3),
      optIn: fc.integer({ min: 0, max: 9 }).map((n) => n < 2),
      day: fc.integer({ min: 0, max: 365 }),
    });
    return fc.tuple(
      fc.tuple(...Array.from({ length: guestCount }, (_, i) => guest(i))),
      fc.array(booking, { minLength: 5, maxLength: 60 }),
    ).chain(([guests, raw]) => {
      // Booking ids only need to be unique per restaurant (each scenario has its own).
      const bookings: Booking[] = raw.map((b, i) => ({
        id: `00000000-0000-4000-8000-${String(i + 1).padStart(12, "0")}`,
        guest: b.guest,
        covers: b.covers,
        cancelled: b.cancelled,
        optIn: b.optIn,
        startsAt: new Date(Date.UTC(2027, 0, 1) + b.day * 86_400_000).toISOString(),
      }));
      const delivery = (kind: "book" | "cancel", index: number) =>
        fc.record({
          copies: fc.integer({ min: 1, max: 3 }),
          abandon: fc.option(fc.integer({ min: 0, max: 4 }), { freq: 5, nil: null }),
          format: fc.nat(3),
        }).map(({ copies, abandon, format }) =>
          Array.from({ length: copies }, (_, c): Delivery => ({
            kind,
            booking: index,
            abandonAfterMs: c === 0 ? abandon : null,
            format: format + c,
          }))
        );
      const all = bookings.flatMap((b, i) => [
        delivery("book", i),
        ...(b.cancelled ? [delivery("cancel", i)] : []),
      ]);
      return fc.tuple(...all).chain((groups) => {
        const flat = groups.flat();
        return fc.shuffledSubarray(flat, { minLength: flat.length, maxLength: flat.length })
          .map((deliveries) => ({ guests, bookings, deliveries }));
      });
    });
  });
}

function contactOf(g: Guest, format: number): { email?: string; phone?: string } {
  const email = format % 2 === 0 ? g.email : g.email.toLowerCase();
  const phone = PHONE_FORMATS[format % PHONE_FORMATS.length](g.phone);
  return g.kind === "email" ? { email } : g.kind === "phone" ? { phone } : { email, phone };
}

export interface ChaosOptions {
  base: string;
  sql: Sql;
  token: string;
  /** At least this many deliveries in all. */
  events: number;
  clients: number;
  seed: number;
}

export async function runChaos(o: ChaosOptions): Promise<Summary> {
  const failures: string[] = [];
  let delivered = 0;
  let scenarios = 0;
  const headers = jsonHeaders(o.token);

  const property = fc.asyncProperty(scenarioArb(`s${o.seed}`), async (scenario) => {
    scenarios++;
    const [{ id: restaurantId }] = await o.sql`
      insert into public.restaurants (name, phone_region) values ('Chaos', 'GB') returning id`;
    const queues: Delivery[][] = Array.from({ length: o.clients }, () => []);
    scenario.deliveries.forEach((d, i) => queues[i % o.clients].push(d));
    const problems: string[] = [];

    const deliver = async (d: Delivery, signal?: AbortSignal) => {
      const b = scenario.bookings[d.booking];
      const g = scenario.guests[b.guest];
      delivered++;
      if (d.kind === "book") {
        return await send(
          o.base,
          "customers-upsert",
          JSON.stringify({
            restaurantId,
            name: g.name,
            ...contactOf(g, d.format),
            marketingOptIn: b.optIn,
            booking: { id: b.id, covers: b.covers, startsAt: b.startsAt },
          }),
          headers,
          signal,
        );
      }
      return await send(
        o.base,
        "customer-cancel",
        JSON.stringify({
          restaurantId,
          bookingId: b.id,
          ...contactOf(g, d.format),
        }),
        headers,
        signal,
      );
    };

    await Promise.all(queues.map(async (queue) => {
      for (let i = 0; i < queue.length; i++) {
        const d = queue[i];
        if (d.abandonAfterMs !== null) {
          // The client gives up early; the server may or may not have applied it.
          await deliver(d, AbortSignal.timeout(d.abandonAfterMs)).catch(() => {});
        }
        const answer = await deliver(d);
        if (answer.status === 404 && d.kind === "cancel" && (d.retries ?? 0) < MAX_RETRIES) {
          // The guest's booking has not arrived yet: deliver again later, as a
          // sender retrying would. Bookings always arrive, so this ends; the
          // cap turns a booking that never lands into a failure, not a hang.
          queue.push({ ...d, abandonAfterMs: null, retries: (d.retries ?? 0) + 1 });
          await new Promise((resolve) => setTimeout(resolve, 1));
        } else if (answer.status !== 200) {
          problems.push(
            `${d.kind} → ${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}`,
          );
        }
      }
    }));

    // The model.
    const rows = await o.sql`
      select c.email_normalized, c.phone_normalized, c.full_name, c.marketing_opt_in,
        p.total_bookings, p.total_covers, p.total_cancellations,
        (select count(*) from public.customer_bookings b where b.customer_id = c.id and b.covers is not null)::int as ledger_bookings,
        (select count(*) from public.customer_bookings b where b.customer_id = c.id and b.status = 'cancelled')::int as ledger_cancellations
      from public.customers c join public.customer_profiles p on p.customer_id = c.id
      where c.restaurant_id = ${restaurantId}`;
    const expectedGuests = new Set(scenario.bookings.map((b) => b.guest));
    if (rows.length !== expectedGuests.size) {
      problems.push(`customers: ${rows.length}, model: ${expectedGuests.size}`);
    }
    for (const gi of expectedGuests) {
      const g = scenario.guests[gi];
      const mine = scenario.bookings.filter((b) => b.guest === gi);
      const email = g.email.toLowerCase();
      const phone = `+447912${g.phone}`;
      const row = rows.find((r) =>
        g.kind === "phone" ? r.phone_normalized === phone : r.email_normalized === email
      );
      const expected = {
        bookings: mine.length,
        covers: mine.reduce((s, b) => s + b.covers, 0),
        cancellations: mine.filter((b) => b.cancelled).length,
        optIn: mine.some((b) => b.optIn),
        name: g.name,
        phone: g.kind === "email" ? null : phone,
      };
      const actual = row && {
        bookings: row.total_bookings,
        covers: row.total_covers,
        cancellations: row.total_cancellations,
        optIn: row.marketing_opt_in,
        name: row.full_name,
        phone: row.phone_normalized,
      };
      if (JSON.stringify(actual) !== JSON.stringify(expected)) {
        problems.push(`guest ${gi}: ${JSON.stringify(actual)} ≠ model ${JSON.stringify(expected)}`);
      }
      if (
        row &&
        (row.ledger_bookings !== row.total_bookings ||
          row.ledger_cancellations !== row.total_cancellations)
      ) {
        problems.push(`guest ${gi}: counters differ from the ledger`);
      }
    }
    if (problems.length) {
      failures.push(`scenario ${scenarios}: ${problems.slice(0, 3).join("; ")}`);
      return false;
    }
    return true;
  });

  // Enough scenarios to reach the requested number of deliveries; fixed seed.
  let runs = 0;
  while (delivered < o.events && failures.length === 0) {
    const before = delivered;
    await fc.assert(property, { seed: o.seed + runs, numRuns: 1, endOnFailure: true }).catch(
      () => {},
    );
    runs++;
    if (delivered === before) break;
  }
  return {
    suite: "chaos",
    tried:
      `deliveries (duplicates, reordering, abandoned-then-retried) in ${scenarios} scenarios from ${o.clients} parallel clients`,
    count: delivered,
    failures,
  };
}
