// customers-upsert: resolve or create a restaurant's customer from its
// contacts, optionally recording a booking. Also takes the Database Webhook
// for INSERT on public.bookings.
import { upsertCustomer } from "../_shared/customers.ts";
import { type Action, endpoint } from "../_shared/endpoint.ts";
import { parseOrThrow, upsertRequestSchema } from "../_shared/schemas.ts";
import { ignored, parseWebhook, requireServiceCaller } from "../_shared/webhook.ts";

export const upsertAction: Action = async (body, { caller, sql }) => {
  const webhook = parseWebhook(body);
  if (!webhook) {
    return await upsertCustomer(sql, caller.claims, parseOrThrow(upsertRequestSchema, body));
  }
  requireServiceCaller(caller);
  if (webhook.kind !== "insert") {
    return ignored("Only INSERT on public.bookings records a booking.");
  }
  const r = webhook.record;
  if (!r.customer_email?.trim() && !r.customer_phone?.trim()) {
    return ignored("The booking has no customer email or phone.");
  }
  return await upsertCustomer(sql, caller.claims, {
    restaurantId: r.restaurant_id,
    name: r.customer_name,
    email: r.customer_email,
    phone: r.customer_phone,
    marketingOptIn: r.marketing_opt_in ?? false,
    booking: { id: r.id, covers: r.party_size, startsAt: r.start_at },
  }, { email: "record.customer_email", phone: "record.customer_phone" });
};

export default endpoint("customers-upsert", upsertAction);
