// Postgres access: one node-postgres pool per isolate over SUPABASE_DB_URL,
// and typed calls of the module's SQL functions. Every API call is one SQL
// function call: Parse/Bind/Describe/Execute/Sync of an unnamed statement in
// one write, so one round trip, real bind parameters, and nothing a
// transaction pooler cannot carry (no named prepared statements, no session
// state, no startup parameters beyond the driver's own).
// @ts-types="npm:@types/pg@8.23.1"
import pg from "pg";
import type { Database } from "./database.types.ts";
import { type ErrorCode, HttpError } from "./http.ts";

type PrivateFunctions = Database["private"]["Functions"];
/** A SQL function of the private schema, by name. */
export type FunctionName = keyof PrivateFunctions;
/**
 * Its arguments by SQL name, as `supabase gen types` describes them, each
 * also nullable (no function of the schema is strict, so null is a value
 * like any other; the generated types leave it out).
 */
export type FunctionArgs<F extends FunctionName> = {
  [K in keyof PrivateFunctions[F]["Args"]]: PrivateFunctions[F]["Args"][K] | null;
};

/**
 * An absent value, sent as an explicit null rather than left out, where the
 * SQL default is null too. A call that leaves out any argument makes
 * Postgres read back and parse all of the function's defaults on every call:
 * ~70k instructions, 4 % of a returning guest's upsert (callgrind).
 */
export const orNull = <T>(value: T | null | undefined): T | null => value ?? null;

/**
 * Every argument of F, none left out: a hot call's object `satisfies` this,
 * so an argument added to the SQL function fails `deno check` until the
 * call passes it (or null), rather than quietly costing the defaults' parse.
 */
export type EveryArg<F extends FunctionName> = Required<FunctionArgs<F>>;

export interface DbOptions {
  /** Connections per isolate. */
  max?: number;
  /** Milliseconds to wait for a connection (pool queue included) before 503. */
  connectTimeoutMs?: number;
  /** Deadline of one call, pool wait included; past it the call is cancelled. */
  queryTimeoutMs?: number;
  /** Server-side statement_timeout, applied inside each call's transaction. */
  statementTimeoutMs?: number;
}

export interface Db {
  pool: pg.Pool;
  queryTimeoutMs: number;
  statementTimeoutMs?: number;
  end(): Promise<void>;
}

type Env = { get(name: string): string | undefined };

let shared: Db | null = null;

/**
 * The isolate's pool, created on first use from DB_POOLER_URL (a transaction
 * pooler's URL: hosted projects cannot set SUPABASE_-prefixed secrets, and
 * their SUPABASE_DB_URL is the direct connection), else SUPABASE_DB_URL, and
 * the DB_* settings.
 */
export function getDb(env: Env = Deno.env): Db {
  if (shared) return shared;
  const url = env.get("DB_POOLER_URL") || env.get("SUPABASE_DB_URL");
  if (!url) throw new Error("SUPABASE_DB_URL is not set");
  const number = (name: string) => {
    const value = env.get(name);
    return value ? Number(value) : undefined;
  };
  shared = createDb(url, {
    max: number("DB_POOL_MAX"),
    connectTimeoutMs: (number("DB_CONNECT_TIMEOUT_S") ?? 3) * 1000,
    queryTimeoutMs: number("DB_QUERY_TIMEOUT_MS"),
    statementTimeoutMs: number("DB_STATEMENT_TIMEOUT_MS"),
  });
  return shared;
}

export function createDb(url: string, options: DbOptions = {}): Db {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 8,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 3000,
    idleTimeoutMillis: 60_000,
    // A startup parameter every pooler accepts (PgBouncer and Supavisor
    // refuse options/statement_timeout there).
    application_name: "customers-module",
  });
  // A connection that dies (Postgres restarted, a pooler recycling it) must
  // never crash the isolate: idle ones are dropped by the pool, a checked-out
  // one fails its call (503) and is destroyed on release.
  pool.on("error", () => {});
  pool.on("connect", (client) => client.on("error", () => {}));
  return {
    pool,
    queryTimeoutMs: options.queryTimeoutMs ?? 10_000,
    statementTimeoutMs: options.statementTimeoutMs,
    end: () => pool.end(),
  };
}

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;
// Runs first in the call's implicit transaction (same Sync), so the timeout
// holds for the call that follows and ends with it; returns no row.
const SET_STATEMENT_TIMEOUT = "select where set_config('statement_timeout', $1, true) is null";

/**
 * The SQL text of a call with named arguments, `select private.f(p_a => $1, …)`,
 * and its bind values. Names come from the generated types, never from input;
 * an undefined argument is left out so the SQL default applies.
 */
export function callText(fn: string, args: Record<string, unknown>): [string, unknown[]] {
  const names: string[] = [];
  const values: unknown[] = [];
  for (const [name, value] of Object.entries(args)) {
    if (value === undefined) continue;
    if (!IDENTIFIER.test(name)) throw new TypeError(`not an argument name: ${name}`);
    values.push(value);
    names.push(`${name} => $${values.length}`);
  }
  if (!IDENTIFIER.test(fn)) throw new TypeError(`not a function name: ${fn}`);
  return [`select private.${fn}(${names.join(", ")}) as result`, values];
}

type QueryCallback = (error: Error | null, result: pg.QueryResult | pg.QueryResult[]) => void;

/** What this module relies on of node-postgres's Query beyond its typings (stable since pg 8). */
interface ProtocolWriter {
  parse(message: { text: string }): void;
  bind(message: { values: string[] }): void;
  execute(message: { portal: string }): void;
}
type QueryInternals = pg.Submittable & { prepare(connection: ProtocolWriter): void };
const Query = pg.Query as unknown as new (
  config: pg.QueryConfig & { callback: QueryCallback },
) => QueryInternals;

/**
 * node-postgres's extended-protocol query, optionally preceded in the same
 * write and the same implicit transaction by `set_config('statement_timeout',
 * …, true)`: a per-call server-side timeout without a startup parameter or a
 * session setting, in the same single round trip.
 */
class FunctionCall extends Query {
  constructor(
    text: string,
    values: unknown[],
    callback: QueryCallback,
    private readonly statementTimeoutMs?: number,
  ) {
    super({ text, values, callback });
  }

  override prepare(connection: ProtocolWriter): void {
    if (this.statementTimeoutMs) {
      connection.parse({ text: SET_STATEMENT_TIMEOUT });
      connection.bind({ values: [String(this.statementTimeoutMs)] });
      connection.execute({ portal: "" });
    }
    super.prepare(connection);
  }
}

/**
 * Call private.<fn> with named arguments in one round trip and return its
 * result. Past the deadline the statement is cancelled on the server and the
 * call rejects with QUERY_TIMEOUT (a committed call stays committed; every
 * call is idempotent, so a retry is safe).
 */
export async function callFunction<F extends FunctionName>(
  db: Db,
  fn: F,
  args: FunctionArgs<F>,
): Promise<PrivateFunctions[F]["Returns"]> {
  const [text, values] = callText(fn, args as Record<string, unknown>);
  const deadline = new Deadline(db.queryTimeoutMs);
  try {
    const client = await deadline.race(db.pool.connect(), (late) => late.release());
    let broken: unknown;
    try {
      let query: FunctionCall | undefined;
      const result = await deadline.race(
        new Promise<pg.QueryResult | pg.QueryResult[]>((resolve, reject) => {
          query = new FunctionCall(
            text,
            values,
            (error, res) => error ? reject(error) : resolve(res),
            db.statementTimeoutMs,
          );
          client.query(query);
        }),
        () => {},
        () => query && cancel(db, client, query),
      );
      const last = Array.isArray(result) ? result[result.length - 1] : result;
      return last.rows[0].result;
    } catch (error) {
      broken = isConnectionDead(error) ? error : undefined;
      throw error;
    } finally {
      // A connection that failed is destroyed rather than reused.
      client.release(broken as Error | undefined);
    }
  } finally {
    deadline.clear();
  }
}

/** Ask the server to cancel the statement `client` is running (a CancelRequest on a new connection). */
function cancel(db: Db, client: pg.PoolClient, query: FunctionCall): void {
  // deno-lint-ignore no-explicit-any
  const options = (db.pool as any).options;
  const canceller = new pg.Client(options);
  canceller.on("error", () => {});
  // deno-lint-ignore no-explicit-any
  (canceller as any).cancel(client, query);
}

/** A time limit shared by the steps of one call. */
class Deadline {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #expired: Promise<never>;
  #onExpire: (() => void)[] = [];

  constructor(ms: number) {
    this.#expired = new Promise<never>((_, reject) => {
      this.#timer = setTimeout(() => {
        for (const f of this.#onExpire) f();
        reject(Object.assign(new Error("query timed out"), { code: "QUERY_TIMEOUT" }));
      }, ms);
    });
    this.#expired.catch(() => {});
  }

  /**
   * `work`, unless the deadline comes first; then `onExpire` runs and a late
   * result is handed to `dispose`.
   */
  async race<T>(work: Promise<T>, dispose: (late: T) => void, onExpire?: () => void): Promise<T> {
    let lost = false;
    if (onExpire) this.#onExpire.push(onExpire);
    try {
      return await Promise.race([work, this.#expired]);
    } catch (error) {
      lost = true;
      throw error;
    } finally {
      if (onExpire) this.#onExpire.splice(this.#onExpire.indexOf(onExpire), 1);
      if (lost) work.then(dispose, () => {});
    }
  }

  clear(): void {
    clearTimeout(this.#timer);
  }
}

/** Driver, socket and SQLSTATE codes meaning "the database is not reachable right now". */
const UNAVAILABLE = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "CONNECTION_LOST",
  "QUERY_TIMEOUT", // callFunction's own deadline
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "53300", // too_many_connections
  "57014", // query_canceled (statement timeout, or our cancel at the deadline)
  "55P03", // lock_not_available (lock_timeout)
  "40P01", // deadlock_detected: retryable, never expected
  "40001", // serialization_failure: retryable
]);

export interface PgLikeError {
  code?: string;
  message?: string;
  detail?: string;
  hint?: string;
  constraint?: string;
}

// node-postgres reports a dropped socket and a pool that could not connect in
// time with messages only; they are availability, not our bugs.
function isConnectionLost(error: unknown): boolean {
  const message = (error as PgLikeError | null)?.message ?? "";
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/
    .test(message);
}

/**
 * True when the connection that raised `error` cannot serve another call: the
 * socket is gone, or the server ended the session (57P0x, class 08). The
 * server's error message arrives before the socket closes, so the pool would
 * otherwise take the connection back as healthy and hand it to the next call.
 */
function isConnectionDead(error: unknown): boolean {
  const code = errorCode(error);
  return code === "CONNECTION_LOST" || code === "ECONNRESET" || code === "EPIPE" ||
    code?.startsWith("57P") === true || code?.startsWith("08") === true;
}

/** The SQLSTATE of a driver error (or a socket/driver code), normalized. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const code = (error as PgLikeError).code;
  if (typeof code === "string") return code;
  return isConnectionLost(error) ? "CONNECTION_LOST" : undefined;
}

/** True when the error means the database is unreachable or busy right now (503). */
export function isUnavailable(error: unknown): boolean {
  const code = errorCode(error);
  // Class 08: connection exceptions, e.g. a pooler refusing the session.
  return code !== undefined && (UNAVAILABLE.has(code) || code.startsWith("08"));
}

/** The region SQL says the restaurant has, when it refused a call for a stale one. */
export function isRegionMismatch(error: unknown): string | null {
  const e = error as PgLikeError;
  return errorCode(error) === "PT409" && e.message === "phone_region_mismatch" && e.hint
    ? e.hint
    : null;
}

type Known = Record<string, { code: ErrorCode; message: string } | undefined>;

/** PT400 refusals with a code of their own (the message is the code). */
const BAD_REQUESTS: Known = {
  merge_into_self: { code: "merge_into_self", message: "A guest cannot be merged into itself." },
  duplicate_ids: { code: "duplicate_ids", message: "An id is given twice." },
  invalid_cursor: { code: "invalid_cursor", message: "cursor is not one this function gave." },
};

/** PT409 refusals: the state does not allow it. */
const CONFLICTS: Known = {
  already_merged: {
    code: "already_merged",
    message: "A guest named has already been merged into another.",
  },
  already_unmerged: { code: "already_unmerged", message: "This merge has already been undone." },
  merge_superseded: {
    code: "merge_superseded",
    message: "A later merge involves this guest; undo it first.",
  },
  customer_erased: { code: "customer_erased", message: "A guest named has been erased." },
};

/**
 * Turn a database error into the caller's error. PT4xx are the SQL
 * functions' deliberate refusals; their message is a stable code and their
 * detail a safe sentence. Anything else is ours: 503 when transient, else 500
 * (the caller gets only the request id).
 */
export function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  const code = errorCode(error);
  const e = (error ?? {}) as PgLikeError;
  switch (code) {
    case "PT400": {
      const specific = BAD_REQUESTS[e.message ?? ""];
      return specific
        ? new HttpError(400, specific.code, specific.message)
        : new HttpError(400, "invalid_request", e.detail ?? "The request is not valid.");
    }
    case "PT403":
      return new HttpError(403, "forbidden", "The caller may not act on this restaurant.");
    case "PT409":
      // (phone_region_mismatch is retried by the caller; it lands here only
      // if the region keeps changing, which is ours to look into: 500.)
      {
        const conflict = CONFLICTS[e.message ?? ""];
        if (conflict) return new HttpError(409, conflict.code, conflict.message);
      }
      if (e.message === "has_future_bookings") {
        return new HttpError(
          409,
          "has_future_bookings",
          "The guest has a booking still to come; erase with force to proceed.",
        );
      }
      break;
    case "PT404":
      switch (e.message) {
        case "customer_not_found":
          return new HttpError(
            404,
            "customer_not_found",
            "No customer of this restaurant matches.",
          );
        case "merge_not_found":
          return new HttpError(404, "merge_not_found", "No merge of this restaurant has this id.");
        case "booking_not_found":
          return new HttpError(
            404,
            "booking_not_found",
            "No booking of this restaurant has this id.",
          );
        default:
          return new HttpError(404, "restaurant_not_found", "No restaurant with this id.");
      }
    case "23514":
      // A CHECK constraint refused a value the normalizers let through (an
      // unusual address, say): the caller's input, not our failure.
      return Object.assign(
        new HttpError(
          400,
          "invalid_request",
          "A contact or name is not in a form that can be stored.",
        ),
        { cause: error },
      );
    case "23503":
      // A reference to something that does not exist (a customer id of
      // another restaurant on a webhook row, say): the caller's input.
      return new HttpError(
        400,
        "invalid_request",
        "The request names something that does not exist.",
        {
          cause: error,
        },
      );
    case "22007": // invalid_datetime_format
    case "22008": // datetime_field_overflow
    case "22009": // invalid_time_zone_displacement_value
      // Validation bounds timestamps first; this is the backstop.
      return Object.assign(
        new HttpError(400, "invalid_request", "A date-time is outside what can be stored."),
        { cause: error },
      );
  }
  const mapped = isUnavailable(error)
    ? new HttpError(503, "unavailable", "The database is unavailable; try again shortly.", {
      headers: { "retry-after": "2" },
    })
    : new HttpError(500, "internal_error", "Something went wrong on our side.");
  // Kept for the log line (kind and codes only), never sent to the caller.
  return Object.assign(mapped, { cause: error });
}
