// Behind a transaction pooler, as hosted Supabase runs the functions
// (Supavisor; PgBouncer in transaction mode stands in for it here): every
// request works, DB_STATEMENT_TIMEOUT_MS included, because nothing depends on
// a session: no named prepared statements, no session settings, no startup
// parameter a pooler refuses. PgBouncer comes from the OS packages (.ci/run
// installs it); without it these tests are skipped, unless REQUIRE_POOLER=1.
import postgres from "postgres";
import { assert, assertEquals } from "./assert.ts";
import { isErrorShape, jsonHeaders, send } from "./hardening/common.ts";
import {
  adminSql,
  createRestaurant,
  DB_URL,
  type Server,
  signToken,
  startServer,
} from "./helpers.ts";

const PGBOUNCER = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});
if (!PGBOUNCER && Deno.env.get("REQUIRE_POOLER") === "1") {
  throw new Error("pgbouncer is required (REQUIRE_POOLER=1) but not installed");
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

interface Pooler {
  url: string;
  stop(): Promise<void>;
}

/** PgBouncer in transaction mode in front of the test database. */
async function startPgBouncer(): Promise<Pooler> {
  const target = new URL(DB_URL);
  const dir = await Deno.makeTempDir({ prefix: "pgbouncer-" });
  const port = freePort();
  const user = decodeURIComponent(target.username || "postgres");
  const password = decodeURIComponent(target.password);
  const database = target.pathname.slice(1);
  await Deno.writeTextFile(`${dir}/users.txt`, `"${user}" "${password}"\n`);
  await Deno.writeTextFile(
    `${dir}/pgbouncer.ini`,
    [
      "[databases]",
      `${database} = host=${target.hostname} port=${target.port || 5432} dbname=${database}` +
      ` user=${user}${password ? ` password=${password}` : ""}`,
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${port}`,
      `unix_socket_dir =`,
      "auth_type = trust",
      `auth_file = ${dir}/users.txt`,
      "pool_mode = transaction",
      // Two server connections, so every call reuses them and the check below
      // meets the connections the calls used.
      "default_pool_size = 2",
      "max_client_conn = 200",
      `logfile = ${dir}/pgbouncer.log`,
      `pidfile = ${dir}/pgbouncer.pid`,
    ].join("\n") + "\n",
  );
  // Postgres refuses nothing here, pgbouncer runs as this user; as root it
  // needs a user to switch to.
  const asRoot = Deno.uid() === 0;
  if (asRoot) await Deno.chmod(dir, 0o777);
  const child = new Deno.Command(PGBOUNCER!, {
    args: [...(asRoot ? ["-u", "postgres"] : []), `${dir}/pgbouncer.ini`],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const url = `postgresql://${encodeURIComponent(user)}@127.0.0.1:${port}/${database}`;
  // Ready when it accepts a connection (an observed event, not a sleep).
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return {
    url,
    async stop() {
      child.kill("SIGTERM");
      await child.stderr.cancel();
      await child.status;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

let pooler: Pooler;
let server: Server;
let restaurantId: string;
let headers: Record<string, string>;

Deno.test({
  name: "behind PgBouncer (transaction mode)",
  ignore: !PGBOUNCER,
  async fn(t) {
    const sql = adminSql();
    pooler = await startPgBouncer();
    server = await startServer({
      SUPABASE_DB_URL: pooler.url,
      DB_STATEMENT_TIMEOUT_MS: "800",
      DB_QUERY_TIMEOUT_MS: "5000",
      DB_POOL_MAX: "4",
    });
    restaurantId = await createRestaurant(sql);
    headers = jsonHeaders(await signToken({ role: "service_role" }));
    try {
      await t.step("every request works with DB_STATEMENT_TIMEOUT_MS set", async () => {
        const bookingId = crypto.randomUUID();
        const answers = await Promise.all(
          Array.from({ length: 40 }, (_, i) =>
            send(
              server.url,
              "customers-upsert",
              JSON.stringify({
                restaurantId,
                email: `pooled${i % 10}@example.com`,
                booking: i === 0 ? { id: bookingId, covers: 2 } : undefined,
              }),
              headers,
            )),
        );
        assertEquals(answers.map((a) => a.status), answers.map(() => 200));
        const cancel = await send(
          server.url,
          "customer-cancel",
          JSON.stringify({ restaurantId, bookingId, email: "pooled0@example.com" }),
          headers,
        );
        assertEquals(cancel.status, 200);
        assertEquals((cancel.body as { cancellationRecorded: boolean }).cancellationRecorded, true);
      });

      await t.step(
        "the statement timeout still bounds a blocked call (503, not a hang)",
        async () => {
          const holder = await sql.reserve();
          try {
            await holder`select pg_advisory_lock(hashtextextended(${`${restaurantId} e held@example.com`}, 0))`;
            const blocked = await send(
              server.url,
              "customers-upsert",
              JSON.stringify({ restaurantId, email: "held@example.com" }),
              headers,
            );
            assertEquals(blocked.status, 503);
            assert(isErrorShape(blocked.body, "unavailable"));
            assert(blocked.ms < 4000, `took ${blocked.ms} ms; the statement timeout is 800 ms`);
          } finally {
            await holder`select pg_advisory_unlock_all()`;
            holder.release();
          }
          const after = await send(
            server.url,
            "customers-upsert",
            JSON.stringify({ restaurantId, email: "held@example.com" }),
            headers,
          );
          assertEquals(after.status, 200, "the timeout did not outlive its transaction");
        },
      );

      await t.step("no session state is left on the server connections", async () => {
        const through = postgres(pooler.url, { prepare: false, max: 1, onnotice: () => {} });
        try {
          for (let i = 0; i < 4; i++) {
            const [{ statement_timeout }] = await through`show statement_timeout`;
            assertEquals(statement_timeout, "0", "the timeout was local to each call");
          }
        } finally {
          await through.end();
        }
      });
    } finally {
      await server.stop();
      await pooler.stop();
      await sql.end({ timeout: 1 });
    }
  },
});
