// customer-consent: marketing consent per channel, with evidence. Staff and
// services record grants and withdrawals; services mint one-click
// unsubscribe links; anyone holding such a link (no login: the HMAC token
// is the credential) withdraws what it names.
import { isGenuineLink, mintUnsubscribe, unsubscribe } from "../_shared/consent.ts";
import { changeConsent } from "../_shared/customers.ts";
import { type Action, endpoint } from "../_shared/endpoint.ts";
import { unsubscribePages } from "../_shared/link_pages.ts";
import {
  consentRequestSchema,
  mintTokenRequestSchema,
  parseOrThrow,
  unsubscribeRequestSchema,
} from "../_shared/schemas.ts";

const has = (body: unknown, key: string) =>
  typeof body === "object" && body !== null && key in body;

export const consentAction: Action = (body, { caller, db }) => {
  if (has(body, "token")) {
    return unsubscribe(db, Deno.env, parseOrThrow(unsubscribeRequestSchema, body).token);
  }
  if (has(body, "mintToken")) {
    return Promise.resolve(
      mintUnsubscribe(Deno.env, caller.claims, parseOrThrow(mintTokenRequestSchema, body)),
    );
  }
  return changeConsent(db, caller.claims, parseOrThrow(consentRequestSchema, body));
};

export default endpoint("customer-consent", consentAction, {
  tokenLinks: unsubscribePages((token) => isGenuineLink(Deno.env, token)),
});
