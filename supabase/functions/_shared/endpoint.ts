// The request pipeline every function shares: CORS preflight, method check,
// caller verification, bounded JSON body, error mapping and one structured
// log line per request. A function supplies only what it does with the body.
import { type AuthConfig, authConfigFromEnv, authenticate, type Caller } from "./auth.ts";
import { type Db, errorCode, getDb, toHttpError } from "./db.ts";
import { CORS_HEADERS, errorResponse, HttpError, json, readJson } from "./http.ts";
import { type LinkPages, wantsHtml } from "./link_pages.ts";
import { log } from "./log.ts";

export interface Context {
  caller: Caller;
  db: Db;
  requestId: string;
  /** When the request arrived: the version of a change that carries none. */
  receivedAt: string;
}

export type Action = (body: unknown, ctx: Context) => Promise<unknown>;

export interface EndpointDeps {
  auth?: AuthConfig;
  db?: Db;
  /**
   * Accept one-click links (RFC 8058): a POST whose URL carries `?token=`
   * needs no credentials and may have any body (a mail client sends
   * `List-Unsubscribe=One-Click` as a form); the action gets `{ token }`
   * from an anonymous caller, and the token itself must prove the rest. A
   * browser gets these pages instead of JSON: a GET of the link asks to
   * confirm (and changes nothing), a form post is answered with a page.
   */
  tokenLinks?: LinkPages;
}

const LINK_CALLER: Caller = { claims: { role: "anon" }, via: "link" };

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Build a fetch handler for a function named `name` that runs `action` on each POST body. */
export function endpoint(
  name: string,
  action: Action,
  deps: EndpointDeps = {},
): (req: Request) => Promise<Response> {
  let auth = deps.auth;
  return async (req) => {
    const started = performance.now();
    const receivedAt = new Date().toISOString();
    const given = req.headers.get("x-request-id");
    const requestId = given && REQUEST_ID.test(given) ? given : crypto.randomUUID();
    let response: Response;
    let role: string | undefined;
    let failure: HttpError | undefined;
    let dropped: string | undefined;
    const token = deps.tokenLinks ? new URL(req.url).searchParams.get("token") : null;
    // The pages a browser gets for a token link, else undefined (JSON).
    const pages = token !== null && (req.method === "GET" || wantsHtml(req))
      ? deps.tokenLinks
      : undefined;
    try {
      if (req.method === "OPTIONS") {
        response = new Response(null, { status: 204, headers: CORS_HEADERS });
      } else if (req.method === "GET" && pages && token !== null) {
        response = pages.confirm(token);
      } else if (req.method !== "POST") {
        throw new HttpError(405, "method_not_allowed", "Use POST.", {
          // GET serves only a token link's page.
          headers: { allow: deps.tokenLinks ? "GET, POST, OPTIONS" : "POST, OPTIONS" },
        });
      } else {
        auth ??= authConfigFromEnv(Deno.env);
        const caller = token !== null ? LINK_CALLER : await authenticate(req, auth);
        role = caller.claims.role;
        const body = token !== null ? (await req.body?.cancel(), { token }) : await readJson(req);
        const db = deps.db ?? getDb();
        const result = await action(body, { caller, db, requestId, receivedAt });
        dropped = droppedFields(result);
        response = pages ? pages.answered() : json(200, result);
      }
    } catch (error) {
      // Every failure becomes the caller's error here, and only here.
      const mapped = toHttpError(error);
      failure = mapped;
      response = pages ? pages.answered(mapped) : errorResponse(mapped, requestId);
    }
    response.headers.set("x-request-id", requestId);
    const status = response.status;
    log(status >= 500 ? "error" : "info", "request", {
      requestId,
      fn: name,
      method: req.method,
      status,
      durationMs: Math.round((performance.now() - started) * 10) / 10,
      role,
      dropped,
      ...(failure === undefined ? {} : describe(failure)),
    });
    return response;
  };
}

/**
 * The paths of the fields a webhook dropped (its answer's `warnings`), for
 * the log line: field names only, never their values.
 */
function droppedFields(result: unknown): string | undefined {
  const warnings = (result as { warnings?: unknown } | null)?.warnings;
  if (!Array.isArray(warnings) || warnings.length === 0) return undefined;
  return warnings.map((w: { path: string }) => w.path).join(",");
}

/** What may be logged about a failure: its codes and kind, never its text. */
function describe(failure: HttpError): Record<string, string | undefined> {
  const { code, cause } = failure;
  if (cause === undefined) return { code };
  const e = cause as { name?: string; constraint?: string };
  return {
    code,
    error: typeof e?.name === "string" ? e.name : typeof cause,
    sqlstate: errorCode(cause),
    constraint: e?.constraint,
  };
}
