// customers-upsert: resolve or create a restaurant's customer from its
// contacts, optionally applying a booking's snapshot. Also takes the Database
// Webhooks for INSERT and UPDATE on public.bookings.
import { bookingRowRoutes } from "../_shared/booking_rows.ts";
import { upsertCustomer } from "../_shared/customers.ts";
import { type Action, endpoint } from "../_shared/endpoint.ts";
import { parseOrThrow, upsertRequestSchema } from "../_shared/schemas.ts";
import { route } from "../_shared/webhook.ts";

export const upsertAction: Action = (body, ctx) =>
  route(body, ctx.caller, {
    api: (b) =>
      upsertCustomer(ctx.db, ctx.caller.claims, parseOrThrow(upsertRequestSchema, b), {
        receivedAt: ctx.receivedAt,
      }),
    ...bookingRowRoutes(ctx),
  });

export default endpoint("customers-upsert", upsertAction);
