// customers-merge: merge 1 to 3 duplicate guests into one, in one
// transaction: bookings, contacts and host links move, the profile is
// recounted, the sources become tombstones. Owners, managers and services.
import { type Action, endpoint } from "../_shared/endpoint.ts";
import { mergeCustomers } from "../_shared/merges.ts";
import { mergeRequestSchema, parseOrThrow } from "../_shared/schemas.ts";

export const mergeAction: Action = (body, { caller, db }) =>
  mergeCustomers(db, caller.claims, parseOrThrow(mergeRequestSchema, body));

export default endpoint("customers-merge", mergeAction);
