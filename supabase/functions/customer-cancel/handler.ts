// customer-cancel: record a booking's cancellation on its customer's profile,
// once per booking id. Also takes the Database Webhook for UPDATE on
// public.bookings whose status turns into 'cancelled'.
import { cancelBooking, upsertCustomer } from "../_shared/customers.ts";
import { type Action, type Context, endpoint } from "../_shared/endpoint.ts";
import { type BookingRecord, cancelRequestSchema, parseOrThrow } from "../_shared/schemas.ts";
import { bookingUpsert, hasContact, ignored, RECORD_PATHS, route } from "../_shared/webhook.ts";

export const cancelAction: Action = (body, ctx) =>
  route(body, ctx.caller, {
    api: (b) => cancelBooking(ctx.db, ctx.caller.claims, parseOrThrow(cancelRequestSchema, b)),
    update: (record, oldRecord) => cancelFromRow(record, oldRecord, ctx),
  });

async function cancelFromRow(
  r: BookingRecord,
  old: BookingRecord | null,
  { caller, db }: Context,
) {
  if (r.status !== "cancelled" || old?.status === "cancelled") {
    return ignored("The booking's status did not turn into cancelled.");
  }
  const cancelledAt = r.updated_at ?? new Date().toISOString();
  if (hasContact(r)) {
    // The row proves the booking exists: booking and cancellation are
    // recorded together (idempotently, one statement), so a lost or late
    // INSERT delivery cannot leave the guest unknown or the cancellation
    // uncounted. Cancelling never grants marketing consent.
    return await upsertCustomer(db, caller.claims, { ...bookingUpsert(r), marketingOptIn: false }, {
      paths: RECORD_PATHS,
      cancelledAt,
    });
  }
  if (!r.customer_id) return ignored("The booking names no customer.");
  return await cancelBooking(db, caller.claims, {
    restaurantId: r.restaurant_id,
    bookingId: r.id,
    customerId: r.customer_id,
    cancelledAt,
  }, RECORD_PATHS);
}

export default endpoint("customer-cancel", cancelAction);
