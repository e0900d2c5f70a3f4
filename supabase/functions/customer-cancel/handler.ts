// customer-cancel: record a booking's cancellation on its customer's profile,
// once per booking id. Also takes the Database Webhook for UPDATE on
// public.bookings whose status turns into 'cancelled'.
import { cancelBooking, upsertCustomer } from "../_shared/customers.ts";
import { type Action, type Context, endpoint } from "../_shared/endpoint.ts";
import { type BookingRecord, cancelRequestSchema, parseOrThrow } from "../_shared/schemas.ts";
import { bookingUpsert, hasContact, ignored, RECORD_PATHS, route } from "../_shared/webhook.ts";

export const cancelAction: Action = (body, ctx) =>
  route(body, ctx.caller, {
    api: (b) => cancelBooking(ctx.sql, ctx.caller.claims, parseOrThrow(cancelRequestSchema, b)),
    update: (record, oldRecord) => cancelFromRow(record, oldRecord, ctx),
  });

async function cancelFromRow(
  r: BookingRecord,
  old: BookingRecord | null,
  { caller, sql }: Context,
) {
  if (r.status !== "cancelled" || old?.status === "cancelled") {
    return ignored("The booking's status did not turn into cancelled.");
  }
  if (!r.customer_id && !hasContact(r)) return ignored("The booking names no customer.");
  // The row proves the booking exists: record it (idempotently) before its
  // cancellation, so a lost or late INSERT delivery cannot leave the guest
  // unknown and the cancellation uncounted.
  const recorded = hasContact(r)
    ? await upsertCustomer(sql, caller.claims, bookingUpsert(r), RECORD_PATHS)
    : null;
  return await cancelBooking(sql, caller.claims, {
    restaurantId: r.restaurant_id,
    bookingId: r.id,
    customerId: r.customer_id ?? recorded?.customer.id,
    email: r.customer_email,
    phone: r.customer_phone,
    cancelledAt: r.updated_at,
  }, RECORD_PATHS);
}

export default endpoint("customer-cancel", cancelAction);
