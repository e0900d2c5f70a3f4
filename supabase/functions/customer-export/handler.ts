// customer-export: everything the module holds about one guest, as one JSON
// document (GDPR subject access). Owners, managers and service callers only.
import { exportCustomer } from "../_shared/customers.ts";
import { type Action, endpoint } from "../_shared/endpoint.ts";
import { exportRequestSchema, parseOrThrow } from "../_shared/schemas.ts";

export const exportAction: Action = (body, { caller, db }) =>
  exportCustomer(db, caller.claims, parseOrThrow(exportRequestSchema, body));

export default endpoint("customer-export", exportAction);
