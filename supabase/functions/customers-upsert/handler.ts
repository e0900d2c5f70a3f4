// customers-upsert: resolve or create a restaurant's customer from its
// contacts, optionally recording a booking. Also takes the Database Webhook
// for INSERT on public.bookings.
import { upsertCustomer } from "../_shared/customers.ts";
import { type Action, endpoint } from "../_shared/endpoint.ts";
import { parseOrThrow, upsertRequestSchema } from "../_shared/schemas.ts";
import {
  bookingUpsert,
  hasContact,
  ignored,
  parseWebhook,
  RECORD_PATHS,
  requireServiceCaller,
} from "../_shared/webhook.ts";

export const upsertAction: Action = async (body, { caller, sql }) => {
  const webhook = parseWebhook(body);
  if (!webhook) {
    return await upsertCustomer(sql, caller.claims, parseOrThrow(upsertRequestSchema, body));
  }
  requireServiceCaller(caller);
  if (webhook.kind !== "insert") {
    return ignored("Only INSERT on public.bookings records a booking.");
  }
  if (!hasContact(webhook.record)) return ignored("The booking has no customer email or phone.");
  return await upsertCustomer(sql, caller.claims, bookingUpsert(webhook.record), RECORD_PATHS);
};

export default endpoint("customers-upsert", upsertAction);
