// HTTP plumbing shared by every function: the error shape, JSON responses,
// CORS and a bounded JSON body reader.
import { corsHeaders as supabaseCors } from "@supabase/supabase-js/cors";

export const MAX_BODY_BYTES = 64 * 1024;

export interface ErrorDetail {
  path: string;
  message: string;
}

export type ErrorCode =
  | "invalid_json"
  | "invalid_request"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "restaurant_not_found"
  | "customer_not_found"
  | "booking_not_found"
  | "has_future_bookings"
  | "merge_not_found"
  | "merge_into_self"
  | "duplicate_ids"
  | "invalid_cursor"
  | "already_merged"
  | "already_unmerged"
  | "merge_superseded"
  | "customer_erased"
  | "method_not_allowed"
  | "request_timeout"
  | "payload_too_large"
  | "unsupported_media_type"
  | "unavailable"
  | "internal_error";

export interface HttpErrorOptions {
  /** One entry per bad field, by path; never the field's value. */
  details?: ErrorDetail[];
  /** Extra response headers (Retry-After, WWW-Authenticate, Allow, …). */
  headers?: Record<string, string>;
  /** What went wrong underneath: kept for the log line (kind and codes only), never sent. */
  cause?: unknown;
}

/** An error meant for the caller: status, stable code, readable message. */
export class HttpError extends Error {
  readonly details?: ErrorDetail[];
  readonly headers: Record<string, string>;

  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    options: HttpErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "HttpError";
    this.details = options.details;
    this.headers = options.headers ?? {};
  }
}

// The headers supabase-js sends come from the library itself, so a header a
// new SDK version starts sending is allowed as soon as the pin moves. Its list
// (2.119.1) lacks x-region, which `functions.invoke(…, { region })` sends, so
// that one is added here. Only POST and OPTIONS are served: the library's
// method list (GET, PUT, …) would announce methods that answer 405.
const SDK_HEADERS = supabaseCors["Access-Control-Allow-Headers"].split(",").map((h) => h.trim());

export const CORS_HEADERS: Record<string, string> = {
  "access-control-allow-origin": supabaseCors["Access-Control-Allow-Origin"],
  "access-control-allow-headers": [...new Set([...SDK_HEADERS, "x-region"])].join(", "),
  "access-control-allow-methods": "POST, OPTIONS",
  "access-control-max-age": "86400",
};

export function json(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { ...CORS_HEADERS, "content-type": "application/json; charset=utf-8", ...headers },
  });
}

export function errorResponse(error: HttpError, requestId?: string): Response {
  const body: Record<string, unknown> = { code: error.code, message: error.message };
  if (error.details) body.details = error.details;
  if (requestId && error.status >= 500) body.requestId = requestId;
  return json(error.status, { error: body }, error.headers);
}

/**
 * Read the body as a JSON value: application/json only, at most
 * MAX_BODY_BYTES (checked while streaming, so a lying or absent
 * Content-Length cannot make us buffer more), valid UTF-8.
 */
export async function readJson(req: Request): Promise<unknown> {
  const type = (req.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  if (type !== "application/json") {
    throw new HttpError(415, "unsupported_media_type", "Send the body as application/json.");
  }
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  const bytes = await readBounded(req);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new HttpError(400, "invalid_json", "The body is not valid UTF-8.");
  }
  if (text.trim() === "") throw new HttpError(400, "invalid_json", "The body is empty.");
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, "invalid_json", "The body is not valid JSON.");
  }
}

async function readBounded(req: Request): Promise<Uint8Array> {
  if (!req.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read().catch((cause) => {
      // The connection closed before the body was complete (a client that
      // gave up): the request's fault, not ours, and nobody reads the answer.
      throw new HttpError(400, "invalid_request", "The request body could not be read.", { cause });
    });
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

function tooLarge(): HttpError {
  return new HttpError(
    413,
    "payload_too_large",
    `The body is larger than ${MAX_BODY_BYTES / 1024} KiB.`,
  );
}
