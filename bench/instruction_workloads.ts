// The upserts whose instructions `npm run bench:instructions` counts: the
// bench's `new` and `returning` workloads, and each without its booking (the
// guest's own part). Each call passes every argument of its side's upsert by
// name, as both sides' edge functions do (a default left to the function
// costs instructions), with the same values on both sides; an argument only
// one side has (the tree's booking version) goes where it exists.
//
// A single-user backend reads plain statements, without bind parameters. So
// that a call computes nothing of its own, its values are constants, and
// Postgres writes them: format('%L') quotes every value, from inputs bound as
// parameters. Nothing is quoted by hand.
import type { Client } from "./pg.ts";

export const INSTRUCTION_WORKLOADS = [
  "new",
  "returning",
  "new-no-booking",
  "returning-no-booking",
  "new-opt-in",
] as const;
export type InstructionWorkload = (typeof INSTRUCTION_WORKLOADS)[number];

/** Returning guests: each call is one of these, in turn. */
const RETURNING_GUESTS = 100;

/**
 * An argument: its name and the SQL expression of its value for call number
 * `n` (`guests`: the number of returning guests).
 */
type Argument = [name: string, value: string];

const booking: Argument[] = [
  ["p_booking_id", "gen_random_uuid()"],
  ["p_booking_covers", "2"],
  ["p_booking_starts_at", "now() + interval '3 days'"],
  // What the tree's upsert is sent for a booking without `updatedAt`: the time it arrived.
  ["p_booking_version", "now()"],
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
  ["p_email", "'r' || (n % guests + 1) || '@example.com'"],
  ["p_email_normalized", "'r' || (n % guests + 1) || '@example.com'"],
];

const ARGUMENTS: Record<InstructionWorkload, Argument[]> = {
  "new": [...newGuest, ...booking],
  "returning": [...returningGuest, ...booking],
  "new-no-booking": newGuest,
  "returning-no-booking": returningGuest,
  // Half of the bench's new guests opt in to marketing with their booking.
  "new-opt-in": [...newGuest, ...booking, ["p_marketing_opt_in", "true"]],
};

/** What an argument no workload sets is sent as: the API's own default. */
const UNSET: Record<string, string> = { p_marketing_opt_in: "false" };

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

/** A side's upsert's parameter names, in order, from its catalogue. */
export async function upsertParameterNames(client: Client): Promise<string[]> {
  const { rows } = await client.query<{ names: string[] }>(
    `select p.proargnames[1:p.pronargs] as names from pg_catalog.pg_proc p
     where p.oid = 'private.customers_upsert'::regproc`,
  );
  return rows[0].names;
}

/**
 * `count` calls of `workload` at `restaurantId`, numbered from 1, one
 * statement per line (a single-user backend ends a statement at a newline).
 */
export async function calls(
  client: Client,
  restaurantId: string,
  workload: InstructionWorkload,
  count: number,
): Promise<string[]> {
  const given = new Map<string, string>([
    ["p_claims", "$1::text"],
    ["p_restaurant_id", "$2::text"],
    ...ARGUMENTS[workload],
  ]);
  const names = await upsertParameterNames(client);
  const missing = [...given.keys()].filter((n) => !names.includes(n) && n !== "p_booking_version");
  if (missing.length) throw new Error(`customers_upsert has no ${missing.join(", ")}`);
  const values: string[] = [];
  const args = names.map((name) => {
    const value = given.get(name);
    if (value === undefined) return `${name} => ${UNSET[name] ?? "null"}`;
    values.push(value);
    return `${name} => %L`;
  });
  const { rows } = await client.query<{ line: string }>(
    `select format($5::text, ${values.join(", ")}) as line
     from generate_series(1, $3::integer) n, (select $4::integer as guests) g order by n`,
    [
      JSON.stringify({ role: "service_role" }),
      restaurantId,
      count,
      RETURNING_GUESTS,
      `select private.customers_upsert(${args.join(", ")})`,
    ],
  );
  return rows.map((row) => row.line);
}

/** Run `line` in a transaction that is rolled back: a call that fails, fails here, in seconds. */
export async function tryCall(client: Client, line: string): Promise<void> {
  await client.query("begin");
  try {
    await client.query(line);
  } finally {
    await client.query("rollback");
  }
}
