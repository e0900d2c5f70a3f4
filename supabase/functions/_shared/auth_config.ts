// Where the credentials are checked against: read once per isolate from the
// environment the hosted runtime (or `npm start`) provides.
import { createLocalJWKSet, type JWTVerifyGetKey } from "jose";
import { digestKey, parseKeyList } from "./api_keys.ts";
import { remoteKeySet, type RemoteKeySetOptions } from "./jwks.ts";
import { type Claims, CLOCK_TOLERANCE_S, type JwtKeys } from "./jwt.ts";
import { VerifiedTokens } from "./verified_tokens.ts";

export interface AuthConfig extends JwtKeys {
  secretKeyDigests: Uint8Array[];
  publishableKeyDigests: Uint8Array[];
  verified: VerifiedTokens<Claims>;
}

type Env = { get(name: string): string | undefined };

/** Read the verification material; `jwks` tunes the remote key set's timing (tests). */
export function authConfigFromEnv(env: Env, jwks: RemoteKeySetOptions = {}): AuthConfig {
  const secret = env.get("SUPABASE_JWT_SECRET") ?? env.get("JWT_SECRET");
  const url = env.get("SUPABASE_URL");
  const jwksJson = env.get("SUPABASE_JWKS");
  let keySet: JWTVerifyGetKey | null = null;
  if (jwksJson) {
    keySet = createLocalJWKSet(JSON.parse(jwksJson));
  } else if (url) {
    keySet = remoteKeySet(new URL("/auth/v1/.well-known/jwks.json", url), jwks);
  }
  const issuerList = env.get("SUPABASE_JWT_ISSUERS");
  const issuers = issuerList
    ? issuerList.split(",").map((s) => s.trim()).filter(Boolean)
    : [...(url ? [new URL("/auth/v1", url).href] : []), "supabase", "supabase-demo"];
  return {
    secret: secret ? new TextEncoder().encode(secret) : null,
    jwks: keySet,
    issuers,
    secretKeyDigests: parseKeyList(env.get("SUPABASE_SECRET_KEYS")).map(digestKey),
    publishableKeyDigests: parseKeyList(env.get("SUPABASE_PUBLISHABLE_KEYS")).map(digestKey),
    verified: new VerifiedTokens<Claims>(CLOCK_TOLERANCE_S),
  };
}
