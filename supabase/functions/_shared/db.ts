// Postgres access: one postgres.js pool per isolate over SUPABASE_DB_URL, and
// the mapping from database errors to HTTP errors. Every API call is a single
// statement (one round trip, one implicit transaction).
import postgres from "postgres";
import { HttpError } from "./http.ts";

export type Sql = postgres.Sql;

export interface DbOptions {
  /** Connections per isolate. */
  max?: number;
  /** Seconds to wait for a connection before the request fails with 503. */
  connectTimeout?: number;
  /** Server-side statement_timeout (ms), sent at connection start when set. */
  statementTimeoutMs?: number;
}

let shared: Sql | null = null;

/**
 * How long one call may take from the caller's side, waiting for a pooled
 * connection included, before it is cancelled and answered 503. Postgres
 * also gives up on a lock after 5 s (lock_timeout on the functions).
 */
let queryTimeoutMs = 10_000;

/** The isolate's pool, created on first use from SUPABASE_DB_URL. */
export function getSql(env: { get(name: string): string | undefined } = Deno.env): Sql {
  if (shared) return shared;
  const url = env.get("SUPABASE_DB_URL");
  if (!url) throw new Error("SUPABASE_DB_URL is not set");
  const statementTimeout = env.get("DB_STATEMENT_TIMEOUT_MS");
  queryTimeoutMs = Number(env.get("DB_QUERY_TIMEOUT_MS") ?? queryTimeoutMs);
  shared = createSql(url, {
    max: Number(env.get("DB_POOL_MAX") ?? "8"),
    connectTimeout: Number(env.get("DB_CONNECT_TIMEOUT_S") ?? "3"),
    statementTimeoutMs: statementTimeout ? Number(statementTimeout) : undefined,
  });
  return shared;
}

export function createSql(url: string, options: DbOptions = {}): Sql {
  return postgres(url, {
    // The transaction pooler (Supavisor) cannot keep named prepared statements.
    prepare: false,
    // Arguments are inlined with explicit casts (callFunction), so the array
    // type catalogue postgres.js fetches on each new connection is not needed:
    // one round trip less per connection, and a faster cold start.
    fetch_types: false,
    max: options.max ?? 8,
    connect_timeout: options.connectTimeout ?? 3,
    idle_timeout: 60,
    // Reconnect quickly once Postgres is back: the default backoff grows to
    // 20 s after a few refused connections, far past any caller's patience.
    backoff: (attempt: number) => Math.min(0.05 * 2 ** attempt, 0.5),
    max_lifetime: 30 * 60,
    onnotice: () => {},
    connection: {
      application_name: "customers-module",
      ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
    },
    // jsonb results are parsed by postgres.js; timestamps stay as the JSON
    // text Postgres produced inside jsonb_build_object.
  });
}

export type SqlValue = string | number | boolean | null | undefined;

/**
 * A SQL literal. Text is dollar-quoted with a tag it does not contain, so no
 * value can end the literal, whatever standard_conforming_strings says.
 */
export function literal(value: SqlValue): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError("non-finite number");
    return String(value);
  }
  // The literal ends at the first occurrence of the tag after the opening
  // one, so the tag must first occur exactly where we put it: not inside the
  // value, and not straddling its end ("Ada$v" + "$v$" contains "$v$" early).
  let tag = "$v$";
  for (let i = 0; (value + tag).indexOf(tag) !== value.length; i++) tag = `$v${i}$`;
  return `${tag}${value}${tag}`;
}

/**
 * Call a SQL function with typed arguments in ONE round trip. postgres.js
 * sends a parameterized query without prepared statements (which the
 * transaction pooler cannot keep) as Parse/Describe, waits for the parameter
 * types, then Bind/Execute: two round trips. Inlined literals with explicit
 * casts need no parameter description, so the whole call is one message.
 */
export async function callFunction<T>(
  sql: Sql,
  fn: string,
  args: Array<[SqlValue, string]>,
  timeoutMs = queryTimeoutMs,
): Promise<T> {
  const list = args.map(([value, type]) => `${literal(value)}::${type}`).join(", ");
  const query = sql.unsafe(`select ${fn}(${list}) as result`);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // A call that was already committed stays committed; every call is
      // idempotent, so the caller's retry is safe either way.
      query.cancel();
      reject(Object.assign(new Error("query timed out"), { code: "QUERY_TIMEOUT" }));
    }, timeoutMs);
  });
  try {
    const [row] = await Promise.race([query, timeout]);
    return row.result as T;
  } finally {
    clearTimeout(timer);
  }
}

/** Postgres SQLSTATEs (and driver codes) that mean "the database is not reachable right now". */
const UNAVAILABLE = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "53300", // too_many_connections
  "57014", // query_canceled (statement timeout)
  "55P03", // lock_not_available (lock_timeout)
  "QUERY_TIMEOUT", // callFunction's own deadline
  "40P01", // deadlock_detected: retryable, never expected
  "40001", // serialization_failure: retryable
]);

interface PgLikeError {
  code?: string;
  message?: string;
  detail?: string;
  hint?: string;
}

/** The SQLSTATE of a postgres.js error, or its driver/socket code. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const e = error as PgLikeError;
  return typeof e.code === "string" ? e.code : undefined;
}

export function isRegionMismatch(error: unknown): string | null {
  const e = error as PgLikeError;
  return errorCode(error) === "PT409" && e.message === "phone_region_mismatch" && e.hint
    ? e.hint
    : null;
}

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
    case "PT400":
      return new HttpError(400, "invalid_request", e.detail ?? "The request is not valid.");
    case "PT403":
      return new HttpError(403, "forbidden", "The caller may not act on this restaurant.");
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
    case "PT404":
      return e.message === "customer_not_found"
        ? new HttpError(404, "customer_not_found", "No customer of this restaurant matches.")
        : new HttpError(404, "restaurant_not_found", "No restaurant with this id.");
  }
  const mapped = code && UNAVAILABLE.has(code)
    ? new HttpError(
      503,
      "unavailable",
      "The database is unavailable; try again shortly.",
      undefined,
      {
        "retry-after": "2",
      },
    )
    : new HttpError(500, "internal_error", "Something went wrong on our side.");
  // Kept for the log line (kind and codes only), never sent to the caller.
  return Object.assign(mapped, { cause: error });
}
