// The one place that signs JWTs: the local project's keys (npm start), the
// tokens of the test suites and of the benchmark. HS256 with jose, as
// Supabase Auth signs them with the project's JWT secret.
import { Buffer } from "node:buffer";
import { type JWTPayload, SignJWT } from "jose";

/** The JWT secret of a local Supabase stack (the CLI's default); ours too. */
export const LOCAL_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long";

export interface SignOptions {
  /** HS256 secret; the local one by default. */
  secret?: string;
  /** `iss` claim. */
  issuer?: string;
  /** `exp`: a jose duration ("1h") or a Unix time in seconds. */
  expiresIn?: string | number;
  /** Set `iat` to now. */
  issuedAt?: boolean;
}

/** An HS256 JWT of `payload`, with the standard claims `options` asks for. */
export async function signJwt(payload: JWTPayload, options: SignOptions = {}): Promise<string> {
  const jwt = new SignJWT(payload).setProtectedHeader({ alg: "HS256", typ: "JWT" });
  if (options.issuer !== undefined) jwt.setIssuer(options.issuer);
  if (options.issuedAt) jwt.setIssuedAt();
  if (options.expiresIn !== undefined) jwt.setExpirationTime(options.expiresIn);
  return await jwt.sign(new TextEncoder().encode(options.secret ?? LOCAL_JWT_SECRET));
}

/** `payload` signed with `secret`, nothing added (the benchmark's tokens). */
export function signHs256(payload: JWTPayload, secret: string): Promise<string> {
  return signJwt(payload, { secret });
}

/** base64url without padding, of a string (UTF-8) or bytes. */
export function b64url(value: string | Uint8Array): string {
  return Buffer.from(value).toString("base64url");
}
