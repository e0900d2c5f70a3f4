// Local functions server: serves every function named in supabase/config.toml
// at http://127.0.0.1:<PORT>/functions/v1/<name>, as the Supabase gateway
// does. Each function folder's handler.ts is the same handler its index.ts
// gives Deno.serve in the hosted runtime.
import { getDb } from "../supabase/functions/_shared/db.ts";
import { json } from "../supabase/functions/_shared/http.ts";
import { log } from "../supabase/functions/_shared/log.ts";

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
const server = Deno.serve({
  port,
  hostname,
  onListen: (addr) => {
    log("info", "listening", {
      url: `http://${addr.hostname}:${addr.port}`,
      functions: [...handlers.keys()].join(","),
    });
  },
}, (req) => {
  const { pathname } = new URL(req.url);
  const match = /^\/functions\/v1\/([^/]+)\/?$/.exec(pathname);
  const handler = match ? handlers.get(match[1]) : undefined;
  if (!handler) {
    return json(404, { error: { code: "not_found", message: "No such function." } });
  }
  return handler(req);
});

async function shutdown() {
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
