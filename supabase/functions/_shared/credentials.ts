// What a request presents as credentials: the Authorization bearer and the
// apikey header, read as they are, and the one 401 every refusal uses.
import { HttpError } from "./http.ts";

export interface Presented {
  /** The token of `Authorization: Bearer <token>`, or null without that header. */
  bearer: string | null;
  /** The `apikey` header, or null. */
  apikey: string | null;
}

/** Read the credential headers; 401 for an Authorization header that is not a bearer token. */
export function readCredentials(req: Request): Presented {
  const authorization = req.headers.get("authorization");
  const apikey = req.headers.get("apikey");
  if (authorization === null) return { bearer: null, apikey };
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (!match) throw unauthorized("The Authorization header must be 'Bearer <token>'.");
  return { bearer: match[1], apikey };
}

export function unauthorized(message: string, cause?: unknown): HttpError {
  return new HttpError(401, "unauthorized", message, {
    headers: { "www-authenticate": 'Bearer realm="functions"' },
    cause,
  });
}
