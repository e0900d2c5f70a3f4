// Local functions server: serves every function named in supabase/config.toml
// at http://127.0.0.1:<PORT>/functions/v1/<name>, as the Supabase gateway
// does. Each function folder's handler.ts is the same handler its index.ts
// gives Deno.serve in the hosted runtime. Connections reach Deno.serve
// through a relay that bounds header, request and idle time (deadlines.ts),
// which the hosted gateway does there; SERVE_HEADER_TIMEOUT_MS,
// SERVE_REQUEST_TIMEOUT_MS and SERVE_IDLE_TIMEOUT_MS override its defaults.
import { getDb } from "../supabase/functions/_shared/db.ts";
import { errorResponse, HttpError } from "../supabase/functions/_shared/http.ts";
import { log } from "../supabase/functions/_shared/log.ts";
import { type Deadlines, DEFAULT_DEADLINES, relayWithDeadlines } from "./deadlines.ts";

type Handler = (req: Request) => Promise<Response>;

const root = new URL("../supabase/", import.meta.url);
const config = await Deno.readTextFile(new URL("config.toml", root));
const handlers = new Map<string, Handler>();
for (const [, name] of config.matchAll(/^\[functions\.([A-Za-z0-9_-]+)\]\s*$/gm)) {
  const module = await import(new URL(`functions/${name}/handler.ts`, root).href);
  handlers.set(name, module.default as Handler);
}

const port = Number(Deno.env.get("PORT") ?? "54321");
const hostname = Deno.env.get("HOST") ?? "127.0.0.1";
const deadlines: Deadlines = {
  headerMs: Number(Deno.env.get("SERVE_HEADER_TIMEOUT_MS") ?? DEFAULT_DEADLINES.headerMs),
  requestMs: Number(Deno.env.get("SERVE_REQUEST_TIMEOUT_MS") ?? DEFAULT_DEADLINES.requestMs),
  idleMs: Number(Deno.env.get("SERVE_IDLE_TIMEOUT_MS") ?? DEFAULT_DEADLINES.idleMs),
};

// The public port first: a port the caller picked (and freed) for us must not
// be taken by the inner server's port 0 below.
const listener = Deno.listen({ port, hostname });
// Deno.serve listens on a loopback port of its own; only the relay is public.
const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, (req) => {
  const { pathname } = new URL(req.url);
  const match = /^\/functions\/v1\/([^/]+)\/?$/.exec(pathname);
  const handler = match ? handlers.get(match[1]) : undefined;
  if (!handler) return errorResponse(new HttpError(404, "not_found", "No such function."));
  return handler(req);
});
const upstream = { hostname: server.addr.hostname, port: server.addr.port };
const relay = relayWithDeadlines(listener, upstream, deadlines, (reason) => {
  // Idle keep-alive connections are closed all the time; the others are news.
  if (reason !== "idle") log("info", "connection closed", { code: `${reason}_timeout` });
});
const addr = listener.addr as Deno.NetAddr;
log("info", "listening", {
  url: `http://${addr.hostname}:${addr.port}`,
  functions: [...handlers.keys()].join(","),
});

async function shutdown() {
  relay.close();
  await server.shutdown();
  try {
    await getDb().end();
  } catch {
    // No database configured: nothing to close.
  }
  Deno.exit(0);
}
Deno.addSignalListener("SIGINT", shutdown);
Deno.addSignalListener("SIGTERM", shutdown);
