// Supabase Database Webhooks (pg_net) for public.bookings. Deliveries are
// best-effort and may repeat, which is fine: every action they trigger is
// idempotent in SQL. Events a function does not handle get a 200 "ignored"
// so pg_net's log shows them as delivered, not failed.
import type { Caller } from "./auth.ts";
import type { FieldPaths } from "./customers.ts";
import { HttpError } from "./http.ts";
import {
  type BookingRecord,
  bookingRecordSchema,
  looksLikeWebhook,
  parseOrThrow,
  type UpsertRequest,
  webhookSchema,
} from "./schemas.ts";

/** Contact errors in a webhook are reported under the record's column names. */
export const RECORD_PATHS: FieldPaths = {
  email: "record.customer_email",
  phone: "record.customer_phone",
};

export function hasContact(r: BookingRecord): boolean {
  return Boolean(r.customer_email?.trim() || r.customer_phone?.trim());
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

export type BookingEvent =
  | { kind: "insert" | "update"; record: BookingRecord; oldRecord: BookingRecord | null }
  | { kind: "other"; record: null; oldRecord: null };

/** Parse a webhook body, or return null when the body is an ordinary API request. */
export function parseWebhook(body: unknown): BookingEvent | null {
  if (!looksLikeWebhook(body)) return null;
  const hook = parseOrThrow(webhookSchema, body);
  if (hook.schema !== "public" || hook.table !== "bookings" || hook.type === "DELETE") {
    return { kind: "other", record: null, oldRecord: null };
  }
  const record = parseOrThrow(bookingRecordSchema, hook.record, "record");
  const oldRecord = hook.old_record === null
    ? null
    : parseOrThrow(bookingRecordSchema, hook.old_record, "old_record");
  return { kind: hook.type === "INSERT" ? "insert" : "update", record, oldRecord };
}

/** Webhooks are sent by the database with a service credential; nobody else may send them. */
export function requireServiceCaller(caller: Caller): void {
  if (caller.claims.role !== "service_role") {
    throw new HttpError(403, "forbidden", "Webhook events are accepted from service callers only.");
  }
}

export function ignored(reason: string): { ignored: true; reason: string } {
  return { ignored: true, reason };
}

export interface Routes {
  /** An ordinary API request. */
  api: (body: unknown) => Promise<unknown>;
  /** INSERT on public.bookings, if the function handles it. */
  insert?: (record: BookingRecord) => Promise<unknown>;
  /** UPDATE on public.bookings, if the function handles it. */
  update?: (record: BookingRecord, oldRecord: BookingRecord | null) => Promise<unknown>;
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
  if (event.kind === "insert" && routes.insert) return await routes.insert(event.record);
  if (event.kind === "update" && routes.update) {
    return await routes.update(event.record, event.oldRecord);
  }
  return ignored(
    event.kind === "other"
      ? "Only INSERT and UPDATE on public.bookings are handled."
      : `${event.kind.toUpperCase()} on public.bookings is not this function's event.`,
  );
}
