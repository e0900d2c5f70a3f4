// Who is calling. The gateway's JWT check is off (verify_jwt = false), so
// every request is verified here. What the caller may do is decided in SQL
// from the claims returned here.
//
// The rule (README, Callers):
// - the bearer token, when there is one, decides who the caller is: a JWT
//   acts as its own claims, an API key as its role; either must verify, or 401;
// - an API key in `apikey` must be genuine too (401 otherwise), but beside a
//   bearer it grants nothing: supabase-js sends the client's key there and
//   the signed-in user's token as the bearer, and the user is who acts;
// - without a bearer, the `apikey` key decides.
import { isApiKey, matchesKey, PUBLISHABLE_KEY_PREFIX, SECRET_KEY_PREFIX } from "./api_keys.ts";
import type { AuthConfig } from "./auth_config.ts";
import { readCredentials, unauthorized } from "./credentials.ts";
import { type Claims, verifyJwt } from "./jwt.ts";

export { type AuthConfig, authConfigFromEnv } from "./auth_config.ts";
export { parseKeyList } from "./api_keys.ts";
export type { Claims } from "./jwt.ts";

export interface Caller {
  claims: Claims;
  /** How the caller proved itself: a JWT or an API key. */
  /** "link": a one-click link whose token is its own proof (customer-consent). */
  via: "jwt" | "secret_key" | "publishable_key" | "link";
}

/** Verify the request's credentials; 401 for anything missing or not genuine. */
export async function authenticate(req: Request, config: AuthConfig): Promise<Caller> {
  const { bearer, apikey } = readCredentials(req);
  const keyCaller = apikey !== null && isApiKey(apikey) ? apiKeyCaller(apikey, config) : null;
  if (bearer !== null) {
    if (isApiKey(bearer)) return apiKeyCaller(bearer, config);
    return { claims: await cachedJwt(bearer, config), via: "jwt" };
  }
  if (keyCaller) return keyCaller;
  throw unauthorized(
    apikey ? "Unknown API key." : "Send 'Authorization: Bearer <JWT>' or a secret API key.",
  );
}

function apiKeyCaller(key: string, config: AuthConfig): Caller {
  if (key.startsWith(SECRET_KEY_PREFIX) && matchesKey(key, config.secretKeyDigests)) {
    return { claims: { role: "service_role" }, via: "secret_key" };
  }
  if (key.startsWith(PUBLISHABLE_KEY_PREFIX) && matchesKey(key, config.publishableKeyDigests)) {
    return { claims: { role: "anon" }, via: "publishable_key" };
  }
  throw unauthorized("Unknown API key.");
}

async function cachedJwt(token: string, config: AuthConfig): Promise<Claims> {
  const now = Date.now();
  const known = config.verified.get(token, now);
  if (known) return known;
  const claims = await verifyJwt(token, config, now);
  config.verified.set(token, claims, now);
  return claims;
}

/**
 * The claims SQL decides on: the role and the user id, nothing else. The
 * rest of a token (user_metadata, …) is the user's own text and has no say.
 */
export function sqlClaims(claims: Claims): string {
  return JSON.stringify(
    typeof claims.sub === "string" ? { role: claims.role, sub: claims.sub } : { role: claims.role },
  );
}
