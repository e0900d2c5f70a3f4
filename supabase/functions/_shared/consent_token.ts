// One-click unsubscribe tokens: an HMAC-SHA256, keyed with the server's
// CONSENT_TOKEN_SECRET, over the restaurant, the guest and the channel. The
// token names what it withdraws, so it needs no login and no lookup to be
// trusted; anything altered, truncated or signed with another secret fails.
import { createHmac, timingSafeEqual } from "node:crypto";

export type Channel = "email" | "sms";

export interface UnsubscribeClaim {
  restaurantId: string;
  customerId: string;
  channel: Channel;
}

const VERSION = "v1";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAC = /^[A-Za-z0-9_-]{43}$/;

function mac(secret: string, c: UnsubscribeClaim): Buffer {
  return createHmac("sha256", secret)
    .update(`${VERSION}|${c.restaurantId}|${c.customerId}|${c.channel}`)
    .digest();
}

/** `v1.<restaurant>.<customer>.<channel>.<mac>`: URL-safe as it is. */
export function mintToken(secret: string, c: UnsubscribeClaim): string {
  return [VERSION, c.restaurantId, c.customerId, c.channel, mac(secret, c).toString("base64url")]
    .join(".");
}

/** What a genuine token says, or null for anything else. */
export function verifyToken(secret: string, token: string): UnsubscribeClaim | null {
  const parts = token.split(".");
  if (parts.length !== 5 || parts[0] !== VERSION) return null;
  const [, restaurantId, customerId, channel, given] = parts;
  if (!UUID.test(restaurantId) || !UUID.test(customerId) || !MAC.test(given)) return null;
  if (channel !== "email" && channel !== "sms") return null;
  const claim = { restaurantId, customerId, channel } as UnsubscribeClaim;
  const expected = mac(secret, claim);
  const actual = Buffer.from(given, "base64url");
  // base64url decoding ignores the last character's spare bits: only the
  // canonical spelling of the MAC is the token, or it could be rewritten.
  if (actual.toString("base64url") !== given) return null;
  return actual.length === expected.length && timingSafeEqual(actual, expected) ? claim : null;
}
