// customers-unmerge: undo a merge; each source is restored with the
// contacts and bookings it had. Owners, managers and services.
import { type Action, endpoint } from "../_shared/endpoint.ts";
import { unmergeCustomers } from "../_shared/merges.ts";
import { parseOrThrow, unmergeRequestSchema } from "../_shared/schemas.ts";

export const unmergeAction: Action = (body, { caller, db }) =>
  unmergeCustomers(db, caller.claims, parseOrThrow(unmergeRequestSchema, body));

export default endpoint("customers-unmerge", unmergeAction);
