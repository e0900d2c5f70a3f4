// `npm start`: the local stack in one command. Postgres (SUPABASE_DB_URL or
// embedded), bootstrap + migrations (Supabase CLI) + seed, then every
// function of supabase/config.toml at http://127.0.0.1:54321/functions/v1/.
// POOLER=1: the functions reach Postgres through PgBouncer in transaction
// mode on POOLER_PORT (54329), as hosted functions reach it through
// Supavisor; migrations still go direct.
import { spawnSync } from "node:child_process";
import { prepareDatabase } from "./lib/database.ts";
import { signJwt } from "./lib/jwt.ts";
import { functionEnv, localKeys } from "./lib/keys.ts";
import { main } from "./lib/main.ts";
import { assertPortFree } from "./lib/net.ts";
import { type Cluster, ensurePostgres } from "./lib/postgres.ts";
import { type PgBouncer, startPgBouncer } from "./lib/pgbouncer.ts";
import { type StartedServer, startServer } from "./lib/server.ts";

const PORT = Number(Deno.env.get("PORT") ?? 54321);
const DB_PORT = Number(Deno.env.get("DB_PORT") ?? 54322);
const DEMO_RESTAURANT = "00000000-0000-4000-8000-000000000001";
const DEMO_STAFF = "00000000-0000-4000-8000-0000000000aa";
// LOCAL_DATA names the folder under .local/ (the smoke test uses its own).
const DATA = Deno.env.get("LOCAL_DATA") ?? "postgres";
const POOLER = Deno.env.get("POOLER") === "1";
const POOLER_PORT = Number(Deno.env.get("POOLER_PORT") ?? 54329);

/** The command that runs the example with the Node.js on PATH (see README: Node versions). */
function exampleCommand(): string {
  const version = spawnSync("node", ["--version"], { encoding: "utf8" }).stdout ?? "";
  const major = Number(/^v(\d+)/.exec(version)?.[1] ?? 0);
  // supabase-js needs a WebSocket class: built in from Node 22, behind a flag on Node 20-21.
  const flag = major > 0 && major < 22 ? "--experimental-websocket " : "";
  return `node ${flag}examples/invoke.mjs`;
}

await main(async () => {
  // Both ports first, so that a taken one is one sentence and nothing starts.
  assertPortFree(PORT, "PORT", "the functions", "npm start");
  const embedded = !Deno.env.get("SUPABASE_DB_URL");
  if (embedded) assertPortFree(DB_PORT, "DB_PORT", "the embedded PostgreSQL", "npm start");
  if (POOLER) assertPortFree(POOLER_PORT, "POOLER_PORT", "PgBouncer", "POOLER=1 npm start");

  let db: Cluster | null = null;
  let pooler: PgBouncer | null = null;
  let server: StartedServer | null = null;
  let stopping: Promise<void> | null = null;
  const stop = () =>
    stopping ??= (async () => {
      await server?.stop();
      await pooler?.stop();
      await db?.stop();
    })();
  const stopped = new Promise<number>((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.addSignalListener(signal, () => stop().then(() => resolve(0)));
    }
  });

  try {
    db = await ensurePostgres({
      name: DATA,
      port: DB_PORT,
      portVariable: "DB_PORT",
      command: "npm start",
    });
    // Schema changes need a session (the CLI sends startup options a
    // transaction pooler refuses): SUPABASE_DB_DIRECT_URL when the functions'
    // URL goes through one.
    await prepareDatabase(Deno.env.get("SUPABASE_DB_DIRECT_URL") ?? db.url);
    if (POOLER) {
      pooler = await startPgBouncer({
        target: db.url,
        port: POOLER_PORT,
        portVariable: "POOLER_PORT",
        command: "POOLER=1 npm start",
        poolSize: Number(Deno.env.get("POOLER_POOL_SIZE") ?? 15),
        maxClientConn: 200,
      });
    }
    const keys = await localKeys(Deno.env.get("SUPABASE_JWT_SECRET"));
    server = await startServer({
      args: ["scripts/serve.ts"],
      env: functionEnv({ dbUrl: pooler?.url ?? db.url, port: PORT, keys }),
      port: PORT,
      // Its log lines go to this terminal; it is ready once it answers.
      ready: { method: "OPTIONS" },
      output: "inherit",
    });
    const staffToken = await signJwt({
      iss: `http://127.0.0.1:${PORT}/auth/v1`,
      sub: DEMO_STAFF,
      role: "authenticated",
      exp: Math.floor(Date.now() / 1000) + 24 * 3600,
    }, { secret: keys.jwtSecret });

    console.log(`
Customers module — local stack
  Functions        http://127.0.0.1:${PORT}/functions/v1/{customers-upsert,customer-cancel}
  Database         ${db.url}${db.embedded ? `  (embedded, data in ${db.dataDir})` : ""}${
      pooler
        ? `\n  Pooler           ${pooler.url}  (PgBouncer, transaction mode, ${pooler.poolSize} ` +
          `server connections; the functions connect here)`
        : ""
    }
  API URL          http://127.0.0.1:${PORT}
  publishable key  ${keys.publishableKey}
  secret key       ${keys.secretKey}
  anon key         ${keys.anonKey}
  service_role     ${keys.serviceRoleKey}
  staff JWT        ${staffToken}   (24 h, staff of the demo restaurant)
  Demo restaurant  ${DEMO_RESTAURANT} (phone region GB)

Try it with supabase-js (examples/invoke.mjs), from another terminal in this folder:
  SUPABASE_URL=http://127.0.0.1:${PORT} SUPABASE_KEY=${keys.serviceRoleKey} ${exampleCommand()}

Ctrl-C stops everything; the next start reuses the data.
`);
  } catch (error) {
    await stop();
    throw error;
  }
  // Until Ctrl-C, or until the functions server dies on its own.
  const exited = server.exited.then(async (code) => {
    if (stopping) return await stopping.then(() => 0);
    console.error(`functions server exited (${code})`);
    await stop();
    return code || 1;
  });
  return await Promise.race([stopped, exited]);
});
