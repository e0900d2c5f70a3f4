// The local project's credentials, derived the way the Supabase CLI derives
// its local ones: JWTs signed with the local JWT secret, and opaque API keys
// that stay the same across restarts.
import { createHmac } from "node:crypto";
import { LOCAL_JWT_SECRET, signJwt } from "./jwt.ts";

// The CLI's local keys expire far in the future; so do ours.
const LOCAL_EXP = 1983812996;

export interface LocalKeys {
  jwtSecret: string;
  anonKey: string;
  serviceRoleKey: string;
  secretKey: string;
  publishableKey: string;
}

/** A stable key, unique to the JWT secret (an HMAC of it, not a JWT). */
function derivedKey(secret: string, purpose: string): string {
  return createHmac("sha256", secret).update(purpose).digest("base64url").slice(0, 32);
}

export async function localKeys(secret = LOCAL_JWT_SECRET): Promise<LocalKeys> {
  return {
    jwtSecret: secret,
    anonKey: await signJwt({ iss: "supabase-demo", role: "anon", exp: LOCAL_EXP }, { secret }),
    serviceRoleKey: await signJwt({ iss: "supabase-demo", role: "service_role", exp: LOCAL_EXP }, {
      secret,
    }),
    secretKey: `sb_secret_${derivedKey(secret, "secret-key")}`,
    publishableKey: `sb_publishable_${derivedKey(secret, "publishable-key")}`,
  };
}

/** The environment the hosted runtime gives a function, for a local server. */
export function functionEnv(
  { dbUrl, port, keys }: { dbUrl: string; port: number; keys: LocalKeys },
): Record<string, string> {
  return {
    SUPABASE_URL: `http://127.0.0.1:${port}`,
    SUPABASE_DB_URL: dbUrl,
    SUPABASE_JWT_SECRET: keys.jwtSecret,
    SUPABASE_ANON_KEY: keys.anonKey,
    SUPABASE_SERVICE_ROLE_KEY: keys.serviceRoleKey,
    SUPABASE_SECRET_KEYS: JSON.stringify({ default: keys.secretKey }),
    SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: keys.publishableKey }),
    // Signs one-click unsubscribe links; derived like the keys, stable per secret.
    CONSENT_TOKEN_SECRET: `consent_${derivedKey(keys.jwtSecret, "consent-token")}`,
    PORT: String(port),
  };
}
