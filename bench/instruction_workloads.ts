// The upserts whose instructions `npm run bench:instructions` counts: the
// bench's `new` and `returning` workloads, and each without its booking (the
// guest's own part). Every call names its arguments, and both sides' upserts
// have these names and defaults since v0.1, so one text serves either side.
//
// A single-user backend reads plain statements, without bind parameters. So
// that each call costs what a call with bind parameters costs (values to
// parse, nothing to compute), the statements carry literals, and Postgres
// writes them: format('%L') quotes every value, from inputs bound as
// parameters. Nothing is quoted by hand.
import type { Client } from "./pg.ts";

export const INSTRUCTION_WORKLOADS = [
  "new",
  "returning",
  "new-no-booking",
  "returning-no-booking",
] as const;
export type InstructionWorkload = (typeof INSTRUCTION_WORKLOADS)[number];

/** Returning guests: each call is one of these, in turn. */
const RETURNING_GUESTS = 100;

/** An argument: its name and the SQL expression of its value for call number `n`. */
type Argument = [name: string, value: string];

const booking: Argument[] = [
  ["p_booking_id", "gen_random_uuid()"],
  ["p_booking_covers", "2"],
  ["p_booking_starts_at", "now() + interval '3 days'"],
];

/** New: a name, an email and a phone never seen before. */
const newGuest: Argument[] = [
  ["p_full_name", "'Guest ' || n"],
  ["p_email", "'g' || n || '@example.com'"],
  ["p_email_normalized", "'g' || n || '@example.com'"],
  ["p_phone", "'+447' || lpad(n::text, 9, '0')"],
  ["p_phone_normalized", "'+447' || lpad(n::text, 9, '0')"],
  ["p_phone_region", "'GB'"],
];

/** Returning: the email of one of the guests made by prepare(). */
const returningGuest: Argument[] = [
  ["p_email", `'r' || (n % ${RETURNING_GUESTS} + 1) || '@example.com'`],
  ["p_email_normalized", `'r' || (n % ${RETURNING_GUESTS} + 1) || '@example.com'`],
];

const ARGUMENTS: Record<InstructionWorkload, Argument[]> = {
  "new": [...newGuest, ...booking],
  "returning": [...returningGuest, ...booking],
  "new-no-booking": newGuest,
  "returning-no-booking": returningGuest,
};

/** A clone made ready for `workload`: the returning guests, when it has them. */
export async function prepare(
  client: Client,
  restaurantId: string,
  workload: InstructionWorkload,
): Promise<void> {
  if (!workload.startsWith("returning")) return;
  await client.query(
    `select private.customers_upsert(p_claims => $1::jsonb, p_restaurant_id => $2::uuid,
       p_email => e, p_email_normalized => e)
     from (select 'r' || i || '@example.com' as e from generate_series(1, $3::integer) i) g`,
    [{ role: "service_role" }, restaurantId, RETURNING_GUESTS],
  );
}

/** `count` calls of `workload` at `restaurantId`, one statement per line, numbered from 1. */
export async function calls(
  client: Client,
  restaurantId: string,
  workload: InstructionWorkload,
  count: number,
): Promise<string[]> {
  const args: Argument[] = [
    ["p_claims", "$1::text"],
    ["p_restaurant_id", "$2::text"],
    ...ARGUMENTS[workload],
  ];
  const template = `select private.customers_upsert(${
    args.map(([name]) => `${name} => %L`).join(", ")
  })`;
  const { rows } = await client.query<{ line: string }>(
    `select format($4::text, ${args.map(([, value]) => value).join(", ")}) as line
     from generate_series(1, $3::integer) n order by n`,
    [JSON.stringify({ role: "service_role" }), restaurantId, count, template],
  );
  return rows.map((row) => row.line);
}
