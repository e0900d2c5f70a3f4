// Who is calling. The gateway's JWT check is off (verify_jwt = false), so
// every request is verified here: HS256 tokens with the project's JWT secret,
// asymmetric tokens against the project's JWKS, and sb_secret_ API keys.
// What the caller may do is decided in SQL from the claims returned here.
import { createHash, timingSafeEqual } from "node:crypto";
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors as joseErrors,
  type JWTPayload,
  jwtVerify,
  type JWTVerifyGetKey,
} from "jose";
import { HttpError } from "./http.ts";

export interface Claims extends JWTPayload {
  role: string;
  sub?: string;
}

export interface Caller {
  claims: Claims;
  /** How the caller proved itself: a JWT or a secret API key. */
  via: "jwt" | "secret_key" | "publishable_key";
}

export interface AuthConfig {
  jwtSecret: Uint8Array | null;
  /** Tokens already verified, by their exact text: a busy caller reuses one token. */
  verified: Map<string, { claims: Claims; until: number }>;
  jwks: JWTVerifyGetKey | null;
  issuers: string[];
  secretKeyDigests: Uint8Array[];
  publishableKeyDigests: Uint8Array[];
}

const ASYMMETRIC_ALGS = ["RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA"];
const CLOCK_TOLERANCE_S = 30;
const VERIFIED_MAX = 1000;
// A verified token is trusted again for at most this long (or until it
// expires), so a revoked signing key stops working within a minute.
const VERIFIED_TTL_MS = 60_000;

/** Read the verification material the hosted runtime (or `npm start`) provides. */
export function authConfigFromEnv(env: { get(name: string): string | undefined }): AuthConfig {
  const secret = env.get("SUPABASE_JWT_SECRET") ?? env.get("JWT_SECRET");
  const url = env.get("SUPABASE_URL");
  const jwksJson = env.get("SUPABASE_JWKS");
  let jwks: JWTVerifyGetKey | null = null;
  if (jwksJson) {
    jwks = createLocalJWKSet(JSON.parse(jwksJson));
  } else if (url) {
    jwks = createRemoteJWKSet(new URL("/auth/v1/.well-known/jwks.json", url), {
      timeoutDuration: 3000,
      cooldownDuration: 30_000,
    });
  }
  const issuerList = env.get("SUPABASE_JWT_ISSUERS");
  const issuers = issuerList
    ? issuerList.split(",").map((s) => s.trim()).filter(Boolean)
    : [...(url ? [new URL("/auth/v1", url).href] : []), "supabase", "supabase-demo"];
  return {
    jwtSecret: secret ? new TextEncoder().encode(secret) : null,
    verified: new Map(),
    jwks,
    issuers,
    secretKeyDigests: parseKeyList(env.get("SUPABASE_SECRET_KEYS")).map(digestSync),
    publishableKeyDigests: parseKeyList(env.get("SUPABASE_PUBLISHABLE_KEYS")).map(digestSync),
  };
}

/** Keys come as a JSON object ({"default": "sb_secret_…"}), a JSON array or a comma list. */
export function parseKeyList(value: string | undefined): string[] {
  if (!value || value.trim() === "") return [];
  const text = value.trim();
  if (text.startsWith("{") || text.startsWith("[")) {
    const parsed = JSON.parse(text);
    const values = Array.isArray(parsed) ? parsed : Object.values(parsed);
    return values.filter((v): v is string => typeof v === "string" && v !== "");
  }
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}

/** Verify the request's credentials; 401 for anything missing or not genuine. */
export async function authenticate(req: Request, config: AuthConfig): Promise<Caller> {
  const authorization = req.headers.get("authorization");
  const apikey = req.headers.get("apikey");
  let token: string | null = null;
  if (authorization !== null) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match) throw unauthorized("The Authorization header must be 'Bearer <token>'.");
    token = match[1];
  }

  // A secret API key may come as apikey or as the bearer token (supabase-js
  // sends the client's key in both).
  for (const candidate of [token, apikey]) {
    if (candidate?.startsWith("sb_secret_")) {
      if (!matchesKey(candidate, config.secretKeyDigests)) throw unauthorized("Unknown API key.");
      return { claims: { role: "service_role" }, via: "secret_key" };
    }
  }
  if (token === null || token.startsWith("sb_publishable_")) {
    const key = token ?? apikey;
    if (key?.startsWith("sb_publishable_") && matchesKey(key, config.publishableKeyDigests)) {
      return { claims: { role: "anon" }, via: "publishable_key" };
    }
    throw unauthorized(
      key ? "Unknown API key." : "Send 'Authorization: Bearer <JWT>' or a secret API key.",
    );
  }
  return { claims: await verifyJwt(token, config), via: "jwt" };
}

async function verifyJwt(token: string, config: AuthConfig): Promise<Claims> {
  const now = Date.now();
  const known = config.verified.get(token);
  if (known && now <= known.until) return known.claims;
  if (known) config.verified.delete(token);
  const claims = await verifyJwtUncached(token, config);
  if (config.verified.size >= VERIFIED_MAX) {
    config.verified.delete(config.verified.keys().next().value!);
  }
  const expires = ((claims.exp ?? 0) + CLOCK_TOLERANCE_S) * 1000;
  config.verified.set(token, { claims, until: Math.min(expires, now + VERIFIED_TTL_MS) });
  return claims;
}

async function verifyJwtUncached(token: string, config: AuthConfig): Promise<Claims> {
  let alg: string | undefined;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch {
    throw unauthorized("The token is not a JWT.");
  }
  const options = {
    issuer: config.issuers,
    clockTolerance: CLOCK_TOLERANCE_S,
    requiredClaims: ["exp", "role"],
  };
  let payload: JWTPayload;
  try {
    if (alg === "HS256" && config.jwtSecret) {
      ({ payload } = await jwtVerify(token, config.jwtSecret, {
        ...options,
        algorithms: ["HS256"],
      }));
    } else if (alg && ASYMMETRIC_ALGS.includes(alg) && config.jwks) {
      ({ payload } = await jwtVerify(token, config.jwks, {
        ...options,
        algorithms: ASYMMETRIC_ALGS,
      }));
    } else {
      throw unauthorized("The token's algorithm is not accepted.");
    }
  } catch (error) {
    if (error instanceof HttpError) throw error;
    if (
      error instanceof joseErrors.JWKSTimeout ||
      (error instanceof TypeError && !(error instanceof joseErrors.JOSEError))
    ) {
      throw new HttpError(
        503,
        "unavailable",
        "Signing keys could not be fetched; try again.",
        undefined,
        {
          "retry-after": "5",
        },
      );
    }
    if (error instanceof joseErrors.JWTExpired) throw unauthorized("The token has expired.");
    throw unauthorized("The token could not be verified.");
  }
  if (typeof payload.role !== "string") throw unauthorized("The token carries no role.");
  return payload as Claims;
}

function unauthorized(message: string): HttpError {
  return new HttpError(401, "unauthorized", message, undefined, {
    "www-authenticate": 'Bearer realm="functions"',
  });
}

// Keys are compared as SHA-256 digests: fixed length, so the comparison is
// constant-time whatever the candidate's length.
function digestSync(key: string): Uint8Array {
  return new Uint8Array(createHash("sha256").update(key, "utf8").digest());
}

function matchesKey(candidate: string, digests: Uint8Array[]): boolean {
  const digest = digestSync(candidate);
  let found = false;
  for (const known of digests) found = timingSafeEqual(digest, known) || found;
  return found;
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
