// customer-erase: remove a guest's personal data in one transaction, keeping
// the anonymous facts (booking states) on a tombstone so the restaurant's
// totals stay exact. Owners, managers and service callers only.
import { eraseCustomer } from "../_shared/customers.ts";
import { type Action, endpoint } from "../_shared/endpoint.ts";
import { eraseRequestSchema, parseOrThrow } from "../_shared/schemas.ts";

export const eraseAction: Action = (body, { caller, db }) =>
  eraseCustomer(db, caller.claims, parseOrThrow(eraseRequestSchema, body));

export default endpoint("customer-erase", eraseAction);
