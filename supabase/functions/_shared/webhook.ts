// Supabase Database Webhooks (pg_net) for public.bookings. Deliveries are
// best-effort and may repeat, which is fine: every action they trigger is
// idempotent in SQL. pg_net does not retry a refused delivery either, so a
// booking row is recorded whenever it names a usable contact: an optional
// column that cannot be used is dropped and named in the answer's `warnings`
// (path and reason, never the value). Events a function does not handle get
// a 200 "ignored" so pg_net's log shows them as delivered, not failed.
import type { Caller } from "./auth.ts";
import { type Contacts, type FieldPaths, prepareContacts } from "./customers.ts";
import type { Context } from "./endpoint.ts";
import { type ErrorDetail, HttpError } from "./http.ts";
import {
  type BookingRecord,
  invalidRequest,
  looksLikeWebhook,
  parseBookingRecord,
  parseOrThrow,
  type UpsertRequest,
  webhookSchema,
} from "./schemas.ts";

/** Contact errors in a webhook are reported under the record's column names. */
export const RECORD_PATHS: FieldPaths = {
  email: "record.customer_email",
  phone: "record.customer_phone",
};

/** A booking row with what was dropped from it. */
export interface BookingRow {
  record: BookingRecord;
  warnings: ErrorDetail[];
}

/** The upsert that records a host booking row, as of `version`, for its customer. */
export function bookingUpsert(r: BookingRecord, version: string): UpsertRequest {
  return {
    restaurantId: r.restaurant_id,
    name: r.customer_name,
    email: r.customer_email,
    phone: r.customer_phone,
    marketingOptIn: r.marketing_opt_in ?? false,
    booking: {
      id: r.id,
      covers: r.party_size,
      startsAt: r.start_at,
      status: r.status,
      updatedAt: version,
    },
  };
}

/** The row's contacts, normalized; an unusable one is dropped and joins the row's warnings. */
export async function rowContacts(row: BookingRow, { caller, db }: Context): Promise<Contacts> {
  const r = row.record;
  const contacts = await prepareContacts(
    db,
    caller.claims,
    r.restaurant_id,
    {
      email: r.customer_email,
      phone: r.customer_phone,
    },
    RECORD_PATHS,
    "drop",
  );
  row.warnings.push(...contacts.warnings);
  return contacts;
}

export function hasContact(contacts: Contacts): boolean {
  return contacts.email !== null || contacts.phone !== null;
}

/** The answer, with the row's warnings when it has any. */
export function withWarnings<T extends object>(answer: T, row: BookingRow): T {
  return row.warnings.length === 0 ? answer : { ...answer, warnings: row.warnings };
}

export type BookingEvent =
  | { kind: "insert" | "update"; row: BookingRow; oldRecord: BookingRecord | null }
  | { kind: "other" };

/** Parse a webhook body, or return null when the body is an ordinary API request. */
export function parseWebhook(body: unknown): BookingEvent | null {
  if (!looksLikeWebhook(body)) return null;
  const hook = parseOrThrow(webhookSchema, body);
  if (hook.schema !== "public" || hook.table !== "bookings" || hook.type === "DELETE") {
    return { kind: "other" };
  }
  if (hook.record === null) {
    throw invalidRequest([{ path: "record", message: "Expected an object." }]);
  }
  const row = parseBookingRecord(hook.record, "record");
  // The old row is only compared with the new one: what it drops is not news.
  const oldRecord = hook.old_record === null
    ? null
    : parseBookingRecord(hook.old_record, "old_record").record;
  return { kind: hook.type === "INSERT" ? "insert" : "update", row, oldRecord };
}

/** Webhooks are sent by the database with a service credential; nobody else may send them. */
export function requireServiceCaller(caller: Caller): void {
  if (caller.claims.role !== "service_role") {
    throw new HttpError(403, "forbidden", "Webhook events are accepted from service callers only.");
  }
}

export function ignored(
  reason: string,
  warnings: ErrorDetail[] = [],
): { ignored: true; reason: string; warnings?: ErrorDetail[] } {
  return warnings.length === 0 ? { ignored: true, reason } : { ignored: true, reason, warnings };
}

export interface Routes {
  /** An ordinary API request. */
  api: (body: unknown) => Promise<unknown>;
  /** INSERT on public.bookings, if the function handles it. */
  insert?: (row: BookingRow) => Promise<unknown>;
  /** UPDATE on public.bookings, if the function handles it. */
  update?: (row: BookingRow, oldRecord: BookingRecord | null) => Promise<unknown>;
}

/**
 * Send a body where it belongs: an API request to `api`; a webhook (from a
 * service caller only) to its event's route; any other event is answered
 * 200 "ignored", so pg_net records it as delivered.
 */
export async function route(body: unknown, caller: Caller, routes: Routes): Promise<unknown> {
  const event = parseWebhook(body);
  if (!event) return await routes.api(body);
  requireServiceCaller(caller);
  if (event.kind === "insert" && routes.insert) return await routes.insert(event.row);
  if (event.kind === "update" && routes.update) {
    return await routes.update(event.row, event.oldRecord);
  }
  return ignored(
    event.kind === "other"
      ? "Only INSERT and UPDATE on public.bookings are handled."
      : `${event.kind.toUpperCase()} on public.bookings is not this function's event.`,
  );
}
