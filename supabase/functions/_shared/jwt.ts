// JWT verification: HS256 with the project's secret, asymmetric algorithms
// with its published keys (JWKS). Every check that needs no key runs first,
// so a token that could never be accepted is a 401 without any network I/O.
// Whatever state the JWKS endpoint is in, an unverified token is a 401, never
// a 503: a caller cannot tell an outage from a forged kid, and neither can we.
import {
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  type JWTPayload,
  jwtVerify,
  type JWTVerifyGetKey,
} from "jose";
import { unauthorized } from "./credentials.ts";
import { KeysUnavailable } from "./jwks.ts";

export interface Claims extends JWTPayload {
  role: string;
  sub?: string;
}

export interface JwtKeys {
  /** The HS256 secret, when the project has one. */
  secret: Uint8Array | null;
  /** The asymmetric keys (local or remote JWKS), when known. */
  jwks: JWTVerifyGetKey | null;
  issuers: string[];
}

const ASYMMETRIC_ALGS = ["RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA"];
export const CLOCK_TOLERANCE_S = 30;

export async function verifyJwt(token: string, keys: JwtKeys, nowMs = Date.now()): Promise<Claims> {
  const alg = checkWithoutKey(token, keys, nowMs);
  const options = {
    issuer: keys.issuers,
    clockTolerance: CLOCK_TOLERANCE_S,
    requiredClaims: ["exp", "role"],
  };
  try {
    const { payload } = alg === "HS256"
      ? await jwtVerify(token, keys.secret!, { ...options, algorithms: ["HS256"] })
      : await jwtVerify(token, keys.jwks!, { ...options, algorithms: ASYMMETRIC_ALGS });
    return payload as Claims;
  } catch (error) {
    // A key that cannot be found, whether the set lacks it or could not be
    // fetched, leaves the token unverified: 401. Its cause stays in the log.
    if (error instanceof KeysUnavailable || error instanceof joseErrors.JWKSNoMatchingKey) {
      throw unauthorized("No published signing key matches the token.", error);
    }
    if (error instanceof joseErrors.JWTExpired) throw unauthorized("The token has expired.");
    throw unauthorized("The token could not be verified.");
  }
}

/**
 * The checks that need no key: a JWS with an accepted algorithm, a JSON
 * payload with a role, an expiry not past and an accepted issuer. Returns the
 * algorithm.
 */
function checkWithoutKey(token: string, keys: JwtKeys, nowMs: number): string {
  let alg: string | undefined;
  let payload: JWTPayload;
  try {
    alg = decodeProtectedHeader(token).alg;
    payload = decodeJwt(token);
  } catch {
    throw unauthorized("The token is not a JWT.");
  }
  const accepted = (alg === "HS256" && keys.secret !== null) ||
    (alg !== undefined && ASYMMETRIC_ALGS.includes(alg) && keys.jwks !== null);
  if (!accepted) throw unauthorized("The token's algorithm is not accepted.");
  if (typeof payload.exp !== "number") throw unauthorized("The token has no expiry.");
  if ((payload.exp + CLOCK_TOLERANCE_S) * 1000 <= nowMs) {
    throw unauthorized("The token has expired.");
  }
  if (typeof payload.role !== "string") throw unauthorized("The token carries no role.");
  if (typeof payload.iss !== "string" || !keys.issuers.includes(payload.iss)) {
    throw unauthorized("The token's issuer is not accepted.");
  }
  return alg!;
}
