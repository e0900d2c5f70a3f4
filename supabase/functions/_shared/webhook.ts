// Supabase Database Webhooks (pg_net) for public.bookings. Deliveries are
// best-effort and may repeat, which is fine: every action they trigger is
// idempotent in SQL. Events a function does not handle get a 200 "ignored"
// so pg_net's log shows them as delivered, not failed.
import type { Caller } from "./auth.ts";
import { HttpError } from "./http.ts";
import {
  type BookingRecord,
  bookingRecordSchema,
  looksLikeWebhook,
  parseOrThrow,
  webhookSchema,
} from "./schemas.ts";

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
