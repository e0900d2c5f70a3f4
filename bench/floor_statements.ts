// What `npm run bench:floor` runs: each side's whole upsert, and the rows
// alone that the working tree's upsert must leave behind, written once each
// with their final values in one statement, with no reads beyond finding the
// returning guest and no answer. No implementation of the tree's schema can
// write less, so the rows' own rate bounds what any upsert of it can reach.
//
// The statements name their values as pgbench variables (`:rid`, `:n`,
// `:r`). pgbench runs them with `-M extended`, so every value travels as a
// bind parameter; tests run the same text through node-postgres with the
// variables turned into `$1…`. Nothing is spliced into SQL text.

export const FLOOR_WORKLOADS = ["new", "returning"] as const;
export type FloorWorkload = (typeof FLOOR_WORKLOADS)[number];

/** Returning guests: made before a run, `r1@example.com` … */
export const RETURNING_GUESTS = 1000;

/**
 * pgbench's draws, per workload. A new guest each call: client k's i-th
 * call is guest k × 10⁸ + i (`i` starts at 0, from pgbench -D i=0), never
 * drawn twice as a random number could be. Or one of the returning guests.
 */
const DRAWS: Record<FloorWorkload, string> = {
  new: "\\set i :i + 1\n\\set n :client_id * 100000000 + :i",
  returning: `\\set r random(1, ${RETURNING_GUESTS})`,
};

/** Makes the returning guests, through the tree's upsert: `$1` is the restaurant, `$2` how many. */
export const RETURNING_SETUP = `select private.customers_upsert(
  p_claims => '{"role": "service_role"}', p_restaurant_id => $1::uuid, p_email => e, p_email_normalized => e)
from (select 'r' || i || '@example.com' as e from generate_series(1, $2::integer) i) g`;

/** A new guest as the bench's `new` workload sends it: every other one opts in. */
const NEW_GUEST: Record<string, string> = {
  p_full_name: "'Guest ' || :n::text",
  p_email: "'g' || :n::text || '@example.com'",
  p_email_normalized: "'g' || :n::text || '@example.com'",
  p_phone: "'+447' || lpad(:n::text, 10, '0')",
  p_phone_normalized: "'+447' || lpad(:n::text, 10, '0')",
  p_phone_region: "'GB'",
  p_marketing_opt_in: ":n::bigint % 2 = 0",
};

const RETURNING_GUEST: Record<string, string> = {
  p_email: "'r' || :r::text || '@example.com'",
  p_email_normalized: "'r' || :r::text || '@example.com'",
  p_marketing_opt_in: "false",
};

const BOOKING: Record<string, string> = {
  p_booking_id: "gen_random_uuid()",
  p_booking_covers: "2",
  p_booking_starts_at: "now() + interval '3 days'",
  p_booking_version: "now()",
};

/**
 * A side's whole upsert, every argument it has among those the workload
 * sets passed by name (`names`: its parameters, from the catalogue).
 */
export function upsertStatement(workload: FloorWorkload, names: string[]): string {
  const given: Record<string, string> = {
    p_claims: `'{"role": "service_role"}'`,
    p_restaurant_id: ":rid::uuid",
    ...(workload === "new" ? NEW_GUEST : RETURNING_GUEST),
    ...BOOKING,
  };
  const args = names.filter((name) => name in given).map((name) => `${name} => ${given[name]}`);
  return `select private.customers_upsert(${args.join(", ")})`;
}

/** The state row of a booking of 2, confirmed, three days ahead, as apply_booking first writes it. */
const STATE_COLUMNS = "restaurant_id, customer_id, booking_id, status, status_version, " +
  "covers, covers_version, starts_at, starts_at_version, late_cancellation";
const STATE_VALUES =
  "gen_random_uuid(), 'confirmed', now(), 2, now(), now() + interval '3 days', " +
  "now(), false";

/**
 * The tree's rows alone.
 *   new: the guest (its contacts come from its insert trigger), its profile
 *     with the booking's numbers (the trigger's own insert then finds it),
 *     the booking's state, and for every other guest its opt-in's evidence.
 *   returning: the guest found by its email, the booking's state, the profile
 *     moved by the booking.
 */
export function floorStatement(workload: FloorWorkload): string {
  if (workload === "new") {
    return `with g as (
  insert into public.customers
    (restaurant_id, full_name, email, email_normalized, phone, phone_normalized, marketing_opt_in)
  values (:rid::uuid, ${NEW_GUEST.p_full_name}, ${NEW_GUEST.p_email}, ${NEW_GUEST.p_email_normalized},
          ${NEW_GUEST.p_phone}, ${NEW_GUEST.p_phone_normalized}, ${NEW_GUEST.p_marketing_opt_in})
  returning id, restaurant_id, marketing_opt_in
), p as (
  insert into public.customer_profiles (customer_id, restaurant_id, total_bookings, total_covers,
    first_booking_at, last_booking_at, marketing_opt_in_at)
  select g.id, g.restaurant_id, 1, 2, now() + interval '3 days', now() + interval '3 days',
    case when g.marketing_opt_in then now() end
  from g
), s as (
  insert into public.customer_bookings (${STATE_COLUMNS})
  select g.restaurant_id, g.id, ${STATE_VALUES} from g
)
insert into public.consent_events (restaurant_id, customer_id, channel, action, source, actor, occurred_at)
select g.restaurant_id, g.id, 'email', 'grant', 'booking', 'service', now() from g where g.marketing_opt_in`;
  }
  return `with g as (
  select k.restaurant_id, k.customer_id from public.customer_contacts k
  where k.restaurant_id = :rid::uuid and k.kind = 'email'
    and k.value_normalized = ${RETURNING_GUEST.p_email_normalized}
), s as (
  insert into public.customer_bookings (${STATE_COLUMNS})
  select g.restaurant_id, g.customer_id, ${STATE_VALUES} from g
  returning customer_id, starts_at
)
update public.customer_profiles p
set total_bookings = p.total_bookings + 1, total_covers = p.total_covers + 2,
    first_booking_at = least(p.first_booking_at, s.starts_at),
    last_booking_at = greatest(p.last_booking_at, s.starts_at), updated_at = now()
from s where p.customer_id = s.customer_id`;
}

/** A pgbench script: the workload's draw, then the statement on one line. */
export function pgbenchScript(workload: FloorWorkload, statement: string): string {
  return `${DRAWS[workload]}\n${statement.replace(/\s*\n\s*/g, " ")};\n`;
}

/**
 * The same statement for node-postgres: each `:name` becomes `$k`, numbered
 * in order of first use; `names` says which value goes where. A `::` cast is
 * not a variable.
 */
export function bindable(statement: string): { text: string; names: string[] } {
  const names: string[] = [];
  const text = statement.replace(/(?<!:):([a-z]+)/g, (_, name: string) => {
    if (!names.includes(name)) names.push(name);
    return `$${names.indexOf(name) + 1}`;
  });
  return { text, names };
}
