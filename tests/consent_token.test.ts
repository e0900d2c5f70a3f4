// Unsubscribe tokens: what one names is what it withdraws, and nothing else
// verifies — another secret, a swapped guest, another restaurant or channel,
// truncation or a flipped character.
import { assertEquals } from "./assert.ts";
import { mintUnsubscribe } from "../supabase/functions/_shared/consent.ts";
import { mintToken, verifyToken } from "../supabase/functions/_shared/consent_token.ts";

const SECRET = "consent-secret-for-the-suite-0123456789";
const claim = {
  restaurantId: "00000000-0000-4000-8000-000000000001",
  customerId: "11111111-1111-4111-8111-111111111111",
  channel: "email" as const,
};

Deno.test("a minted token verifies to exactly what it names", () => {
  assertEquals(verifyToken(SECRET, mintToken(SECRET, claim)), claim);
  const sms = { ...claim, channel: "sms" as const };
  assertEquals(verifyToken(SECRET, mintToken(SECRET, sms)), sms);
});

Deno.test("forged, swapped, truncated or tampered tokens do not verify", () => {
  const token = mintToken(SECRET, claim);
  const [v, r, c, ch, mac] = token.split(".");
  const forged = [
    mintToken("another-secret-entirely-0123456789abcdef", claim),
    [v, r, "22222222-2222-4222-8222-222222222222", ch, mac].join("."),
    [v, "00000000-0000-4000-8000-000000000002", c, ch, mac].join("."),
    [v, r, c, "sms", mac].join("."),
    token.slice(0, -1),
    token.slice(0, 20),
    token.slice(0, -2) + (token.endsWith("A") ? "BB" : "AA"),
    // Every spelling of the last character other than its own (its spare bits
    // must not let a token be rewritten).
    ...[..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"]
      .filter((c) => c !== token.at(-1)).map((c) => token.slice(0, -1) + c),
    ["v2", r, c, ch, mac].join("."),
    token + ".extra",
    "",
    "not a token",
  ];
  for (const t of forged) assertEquals(verifyToken(SECRET, t), null, t);
});

Deno.test("a minted link is on CONSENT_LINK_BASE_URL when set (a custom domain serves its page), else SUPABASE_URL", () => {
  const service = { role: "service_role" };
  const env = (vars: Record<string, string>) =>
    new Map(Object.entries({ CONSENT_TOKEN_SECRET: SECRET, ...vars }));
  const onDomain = mintUnsubscribe(
    env({
      SUPABASE_URL: "https://ref.supabase.co",
      CONSENT_LINK_BASE_URL: "https://api.example.com/",
    }),
    service,
    claim,
  );
  assertEquals(
    onDomain.url,
    `https://api.example.com/functions/v1/customer-consent?token=${onDomain.token}`,
  );
  const plain = mintUnsubscribe(env({ SUPABASE_URL: "https://ref.supabase.co" }), service, claim);
  assertEquals(
    plain.url,
    `https://ref.supabase.co/functions/v1/customer-consent?token=${plain.token}`,
  );
});
