// customers-upsert: resolve or create a restaurant's customer from its
// contacts, optionally recording a booking. Also takes the Database Webhook
// for INSERT on public.bookings.
import { upsertCustomer } from "../_shared/customers.ts";
import { type Action, endpoint } from "../_shared/endpoint.ts";
import { parseOrThrow, upsertRequestSchema } from "../_shared/schemas.ts";
import { bookingUpsert, hasContact, ignored, RECORD_PATHS, route } from "../_shared/webhook.ts";

export const upsertAction: Action = (body, { caller, db }) =>
  route(body, caller, {
    api: (b) => upsertCustomer(db, caller.claims, parseOrThrow(upsertRequestSchema, b)),
    // A row inserted already cancelled counts as a booking and as its
    // cancellation, in the same call.
    insert: async (record) =>
      hasContact(record)
        ? await upsertCustomer(db, caller.claims, bookingUpsert(record), {
          paths: RECORD_PATHS,
          consentAt: record.updated_at,
          cancelledAt: record.status === "cancelled"
            ? (record.updated_at ?? new Date().toISOString())
            : null,
        })
        : ignored("The booking has no customer email or phone."),
  });

export default endpoint("customers-upsert", upsertAction);
