// customer-consent's three requests: a grant or withdrawal by staff or a
// service, minting a one-click unsubscribe link (service only), and that
// link's withdrawal, which needs no login: the token itself names the
// restaurant, the guest and the channel, under the server's HMAC.
import { type Claims, sqlClaims } from "./auth.ts";
import { type Channel, mintToken, verifyToken } from "./consent_token.ts";
import { callFunction, type Db } from "./db.ts";
import { HttpError } from "./http.ts";
import type { ConsentRequest } from "./schemas.ts";

type Env = { get(name: string): string | undefined };

function secret(env: Env): string {
  const value = env.get("CONSENT_TOKEN_SECRET");
  // Too short a key would make forging feasible; refuse to run with one.
  if (!value || value.length < 32) {
    throw new Error("CONSENT_TOKEN_SECRET is not set (at least 32 characters)");
  }
  return value;
}

export async function recordConsent(
  db: Db,
  claims: Claims,
  req: ConsentRequest,
  contacts: { email: string | null; phone: string | null; region: string | null },
): Promise<unknown> {
  return await callFunction(db, "customer_consent", {
    p_claims: sqlClaims(claims),
    p_restaurant_id: req.restaurantId,
    p_channel: req.channel,
    p_granted: req.granted,
    p_customer_id: req.customerId ?? undefined,
    p_email_normalized: contacts.email ?? undefined,
    p_phone_normalized: contacts.phone ?? undefined,
    p_phone_region: contacts.region ?? undefined,
    p_source: req.source ?? undefined,
    p_wording: req.wording ?? undefined,
  });
}

/** A link for List-Unsubscribe (and List-Unsubscribe-Post: List-Unsubscribe=One-Click). */
export function mintUnsubscribe(
  env: Env,
  claims: Claims,
  req: { restaurantId: string; customerId: string; channel: Channel },
): { token: string; url: string } {
  if (claims.role !== "service_role") {
    throw new HttpError(403, "forbidden", "Only service callers may mint unsubscribe links.");
  }
  const token = mintToken(secret(env), req);
  // Hosted Supabase serves HTML only through a custom domain (on
  // <ref>.supabase.co a GET's text/html becomes text/plain), so the link's
  // base is that domain when one is set; the one-click POST works on either.
  const base = env.get("CONSENT_LINK_BASE_URL") ?? env.get("SUPABASE_URL") ?? "";
  return {
    token,
    url: `${base.replace(/\/$/, "")}/functions/v1/customer-consent?token=${token}`,
  };
}

/** True when `token` carries this server's signature (no database read). */
export function isGenuineLink(env: Env, token: string): boolean {
  return verifyToken(secret(env), token) !== null;
}

/** The withdrawal a genuine link asks for; 401 for anything else. */
export async function unsubscribe(db: Db, env: Env, token: string): Promise<unknown> {
  const claim = verifyToken(secret(env), token);
  if (!claim) {
    throw new HttpError(401, "unauthorized", "The unsubscribe link is not valid.");
  }
  return await callFunction(db, "consent_unsubscribe", {
    p_restaurant_id: claim.restaurantId,
    p_customer_id: claim.customerId,
    p_channel: claim.channel,
  });
}
