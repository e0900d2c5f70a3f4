// booking-update: change a recorded booking (a visit, a no-show, a
// correction, a reinstatement, a new party size or time). Also takes the
// Database Webhooks for INSERT and UPDATE on public.bookings.
import { bookingRowRoutes } from "../_shared/booking_rows.ts";
import { updateBooking } from "../_shared/customers.ts";
import { type Action, endpoint } from "../_shared/endpoint.ts";
import { bookingUpdateRequestSchema, parseOrThrow } from "../_shared/schemas.ts";
import { route } from "../_shared/webhook.ts";

export const bookingUpdateAction: Action = (body, ctx) =>
  route(body, ctx.caller, {
    api: (b) =>
      updateBooking(
        ctx.db,
        ctx.caller.claims,
        parseOrThrow(bookingUpdateRequestSchema, b),
        ctx.receivedAt,
      ),
    ...bookingRowRoutes(ctx),
  });

export default endpoint("booking-update", bookingUpdateAction);
