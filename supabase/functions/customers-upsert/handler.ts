// customers-upsert: resolve or create a restaurant's customer from its
// contacts, optionally recording a booking. Also takes the Database Webhook
// for INSERT on public.bookings.
import { upsertCustomer } from "../_shared/customers.ts";
import { type Action, endpoint } from "../_shared/endpoint.ts";
import { parseOrThrow, upsertRequestSchema } from "../_shared/schemas.ts";
import { bookingUpsert, hasContact, ignored, RECORD_PATHS, route } from "../_shared/webhook.ts";

export const upsertAction: Action = (body, { caller, sql }) =>
  route(body, caller, {
    api: (b) => upsertCustomer(sql, caller.claims, parseOrThrow(upsertRequestSchema, b)),
    insert: async (record) =>
      hasContact(record)
        ? await upsertCustomer(sql, caller.claims, bookingUpsert(record), RECORD_PATHS)
        : ignored("The booking has no customer email or phone."),
  });

export default endpoint("customers-upsert", upsertAction);
