// `npm start`: the local stack in one command. Postgres (SUPABASE_DB_URL or
// embedded), bootstrap + migrations (Supabase CLI) + seed, then every
// function of supabase/config.toml at http://127.0.0.1:54321/functions/v1/.
import { spawn } from "node:child_process";
import path from "node:path";
import { functionEnv, localKeys, signJwt } from "./lib/keys.mjs";
import { BIN, prepareDatabase } from "./lib/migrate.mjs";
import { ensurePostgres, ROOT } from "./lib/postgres.mjs";

const PORT = Number(process.env.PORT ?? 54321);
const DB_PORT = Number(process.env.DB_PORT ?? 54322);
const DEMO_RESTAURANT = "00000000-0000-4000-8000-000000000001";
const DEMO_STAFF = "00000000-0000-4000-8000-0000000000aa";

// LOCAL_DATA names the folder under .local/ (the smoke test uses its own).
const DATA = process.env.LOCAL_DATA ?? "postgres";
const db = await ensurePostgres({ name: DATA, port: DB_PORT });
const running = { server: null };
let stopping = false;
async function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  const { server } = running;
  if (server && server.exitCode === null) {
    server.kill("SIGTERM");
    await new Promise((resolve) => server.once("exit", resolve));
  }
  await db.stop();
  process.exit(code);
}
process.on("SIGINT", () => stop(0));
process.on("SIGTERM", () => stop(0));

try {
  await prepareDatabase(db.url);
} catch (error) {
  console.error(`Database setup failed: ${error.message}`);
  await stop(1);
}

const keys = localKeys(process.env.SUPABASE_JWT_SECRET);
const env = functionEnv({ dbUrl: db.url, port: PORT, keys });
const server = spawn(
  path.join(BIN, "deno"),
  ["run", "--allow-net", "--allow-env", "--allow-read", "scripts/serve.ts"],
  { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "inherit", "inherit"] },
);
running.server = server;
server.on("exit", (code) => {
  if (!stopping) {
    console.error(`functions server exited (${code})`);
    stop(code ?? 1);
  }
});

const staffToken = signJwt({
  iss: `http://127.0.0.1:${PORT}/auth/v1`,
  sub: DEMO_STAFF,
  role: "authenticated",
  exp: Math.floor(Date.now() / 1000) + 24 * 3600,
}, keys.jwtSecret);

console.log(`
Customers module — local stack
  Functions     http://127.0.0.1:${PORT}/functions/v1/{customers-upsert,customer-cancel}
  Database      ${db.url}${db.embedded ? `  (embedded, data in .local/${DATA})` : ""}
  API URL       http://127.0.0.1:${PORT}
  anon key      ${keys.anonKey}
  service_role  ${keys.serviceRoleKey}
  secret key    ${keys.secretKey}
  staff JWT     ${staffToken}   (24 h, staff of the demo restaurant)
  Demo restaurant ${DEMO_RESTAURANT} (phone region GB)

Try it (Node or Deno, with @supabase/supabase-js):
  const supabase = createClient("http://127.0.0.1:${PORT}", "${keys.serviceRoleKey}");
  const { data, error } = await supabase.functions.invoke("customers-upsert", {
    body: { restaurantId: "${DEMO_RESTAURANT}", name: "Ada", email: "Ada@Example.com",
            phone: "020 7946 0958", marketingOptIn: true,
            booking: { id: crypto.randomUUID(), covers: 2 } },
  });

Ctrl-C stops everything; the next start reuses the data.
`);
