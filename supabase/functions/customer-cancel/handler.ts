// customer-cancel: cancel a booking on its customer's profile (its status
// becomes 'cancelled' unless a newer change says otherwise). Also takes the
// Database Webhooks for INSERT and UPDATE on public.bookings.
import { bookingRowRoutes } from "../_shared/booking_rows.ts";
import { cancelBooking } from "../_shared/customers.ts";
import { type Action, endpoint } from "../_shared/endpoint.ts";
import { cancelRequestSchema, parseOrThrow } from "../_shared/schemas.ts";
import { route } from "../_shared/webhook.ts";

export const cancelAction: Action = (body, ctx) =>
  route(body, ctx.caller, {
    api: (b) => cancelBooking(ctx.db, ctx.caller.claims, parseOrThrow(cancelRequestSchema, b)),
    ...bookingRowRoutes(ctx),
  });

export default endpoint("customer-cancel", cancelAction);
