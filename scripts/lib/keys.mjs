// The local project's credentials, derived the way the Supabase CLI derives
// its local ones: HS256 JWTs signed with the local JWT secret.
import { createHmac } from "node:crypto";

export const LOCAL_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long";
// The CLI's local keys expire far in the future; so do ours.
const LOCAL_EXP = 1983812996;

const b64url = (value) => Buffer.from(value).toString("base64url");

export function signJwt(payload, secret = LOCAL_JWT_SECRET) {
  const head = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64url(JSON.stringify(payload));
  const signature = createHmac("sha256", secret).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${signature}`;
}

export function localKeys(secret = LOCAL_JWT_SECRET) {
  return {
    jwtSecret: secret,
    anonKey: signJwt({ iss: "supabase-demo", role: "anon", exp: LOCAL_EXP }, secret),
    serviceRoleKey: signJwt({ iss: "supabase-demo", role: "service_role", exp: LOCAL_EXP }, secret),
    // Stable across restarts, unique to the JWT secret.
    secretKey: `sb_secret_${
      createHmac("sha256", secret).update("secret-key").digest("base64url").slice(0, 32)
    }`,
    publishableKey: `sb_publishable_${
      createHmac("sha256", secret).update("publishable-key").digest("base64url").slice(0, 32)
    }`,
  };
}

/** The environment the hosted runtime gives a function, for a local server. */
export function functionEnv({ dbUrl, port, keys }) {
  return {
    SUPABASE_URL: `http://127.0.0.1:${port}`,
    SUPABASE_DB_URL: dbUrl,
    SUPABASE_JWT_SECRET: keys.jwtSecret,
    SUPABASE_ANON_KEY: keys.anonKey,
    SUPABASE_SERVICE_ROLE_KEY: keys.serviceRoleKey,
    SUPABASE_SECRET_KEYS: JSON.stringify({ default: keys.secretKey }),
    SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: keys.publishableKey }),
    PORT: String(port),
  };
}
