// customer-duplicates: the restaurant's candidate duplicate pairs (upsert
// conflicts; equal names with a shared private email domain or phone
// prefix), newest first, a page at a time; or `dismiss` one pair as not a
// duplicate. Staff may list; owners, managers and services may dismiss.
import { type Action, endpoint } from "../_shared/endpoint.ts";
import { duplicates } from "../_shared/merges.ts";
import { duplicatesRequestSchema, parseOrThrow } from "../_shared/schemas.ts";

export const duplicatesAction: Action = (body, { caller, db }) =>
  duplicates(db, caller.claims, parseOrThrow(duplicatesRequestSchema, body));

export default endpoint("customer-duplicates", duplicatesAction);
