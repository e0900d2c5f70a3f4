// customer-lookup: find a restaurant's guest by id, email or phone (normalized
// as the upsert does), to greet a returning guest. Never writes.
import { lookupCustomer } from "../_shared/customers.ts";
import { type Action, endpoint } from "../_shared/endpoint.ts";
import { lookupRequestSchema, parseOrThrow } from "../_shared/schemas.ts";

export const lookupAction: Action = (body, { caller, db }) =>
  lookupCustomer(db, caller.claims, parseOrThrow(lookupRequestSchema, body));

export default endpoint("customer-lookup", lookupAction);
