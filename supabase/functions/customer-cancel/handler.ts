// customer-cancel: record a booking's cancellation on its customer's profile,
// once per booking id. Also takes the Database Webhook for UPDATE on
// public.bookings whose status turns into 'cancelled'.
import { cancelBooking } from "../_shared/customers.ts";
import { type Action, endpoint } from "../_shared/endpoint.ts";
import { cancelRequestSchema, parseOrThrow } from "../_shared/schemas.ts";
import { ignored, parseWebhook, requireServiceCaller } from "../_shared/webhook.ts";

export const cancelAction: Action = async (body, { caller, sql }) => {
  const webhook = parseWebhook(body);
  if (!webhook) {
    return await cancelBooking(sql, caller.claims, parseOrThrow(cancelRequestSchema, body));
  }
  requireServiceCaller(caller);
  if (webhook.kind !== "update") return ignored("Only UPDATE on public.bookings can cancel.");
  const r = webhook.record;
  if (r.status !== "cancelled" || webhook.oldRecord?.status === "cancelled") {
    return ignored("The booking's status did not turn into cancelled.");
  }
  if (!r.customer_id && !r.customer_email?.trim() && !r.customer_phone?.trim()) {
    return ignored("The booking names no customer.");
  }
  return await cancelBooking(sql, caller.claims, {
    restaurantId: r.restaurant_id,
    bookingId: r.id,
    customerId: r.customer_id,
    email: r.customer_email,
    phone: r.customer_phone,
    cancelledAt: r.updated_at,
  }, { email: "record.customer_email", phone: "record.customer_phone" });
};

export default endpoint("customer-cancel", cancelAction);
