// Behind a transaction pooler, as hosted Supabase runs the functions
// (Supavisor; PgBouncer in transaction mode stands in for it here): every
// request works, DB_STATEMENT_TIMEOUT_MS included, because nothing depends on
// a session: no named prepared statements, no session settings, no startup
// parameter a pooler refuses. Checked here: the startup packets the functions
// send (through a recording relay, DB_STATEMENT_TIMEOUT_MS set and unset, the
// pooler named by DB_POOLER_URL as a hosted project does), and that every
// advisory lock is transaction-scoped, in the code and at run time. PgBouncer
// comes from the OS packages (.ci/run installs it; scripts/lib/pgbouncer.ts
// starts it); without it these tests are skipped, unless REQUIRE_POOLER=1.
// `npm test` also reruns the end-to-end and concurrency files through it.
import postgres from "postgres";
import { assert, assertEquals } from "./assert.ts";
import { isErrorShape, jsonHeaders, send } from "./hardening/common.ts";
import {
  findPgBouncer,
  type PgBouncer,
  poolerRequired,
  startPgBouncer,
} from "../scripts/lib/pgbouncer.ts";
import {
  adminSql,
  createRestaurant,
  DB_URL,
  type Server,
  signToken,
  startServer,
} from "./helpers.ts";

const PGBOUNCER = findPgBouncer();
if (!PGBOUNCER && poolerRequired()) {
  throw new Error("pgbouncer is required (REQUIRE_POOLER=1) but not installed");
}

/** Startup parameters a transaction pooler passes on (PgBouncer's and Supavisor's lists). */
const ACCEPTED_STARTUP = new Set(["user", "database", "application_name", "client_encoding"]);

interface StartupRecorder {
  url: string;
  /** The parameters of every startup packet seen so far. */
  packets: Record<string, string>[];
  stop(): Promise<void>;
}

/**
 * A relay in front of the pooler that records each connection's startup
 * packet (what a pooler would accept or refuse) and passes everything on.
 */
function recordStartups(target: URL): StartupRecorder {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const packets: Record<string, string>[] = [];
  const open = new Set<Deno.Conn>();
  const work: Promise<unknown>[] = [];
  const readExact = async (conn: Deno.Conn, n: number): Promise<Uint8Array> => {
    const out = new Uint8Array(n);
    for (let at = 0; at < n;) {
      const got = await conn.read(out.subarray(at));
      if (got === null) throw new Error("closed before the startup packet");
      at += got;
    }
    return out;
  };
  const relay = async (client: Deno.Conn) => {
    open.add(client);
    let upstream: Deno.Conn | null = null;
    try {
      let head: Uint8Array;
      let body: Uint8Array;
      for (;;) {
        head = await readExact(client, 4);
        body = await readExact(client, new DataView(head.buffer).getInt32(0) - 4);
        // SSLRequest: no TLS here; the client then sends its startup packet.
        if (new DataView(body.buffer).getInt32(0) !== 80877103) break;
        await client.write(new TextEncoder().encode("N"));
      }
      const fields = new TextDecoder().decode(body.subarray(4)).split("\0");
      const params: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length && fields[i] !== ""; i += 2) {
        params[fields[i]] = fields[i + 1];
      }
      packets.push(params);
      upstream = await Deno.connect({ hostname: target.hostname, port: Number(target.port) });
      open.add(upstream);
      await upstream.write(head);
      await upstream.write(body);
      await Promise.all([
        client.readable.pipeTo(upstream.writable).catch(() => {}),
        upstream.readable.pipeTo(client.writable).catch(() => {}),
      ]);
    } catch {
      // A connection closed early: nothing to record.
    } finally {
      for (const c of [client, upstream]) {
        if (c && open.delete(c)) {
          try {
            c.close();
          } catch { /* already closed by its pipe */ }
        }
      }
    }
  };
  const accepting = (async () => {
    try {
      for await (const conn of listener) work.push(relay(conn));
    } catch { /* listener closed */ }
  })();
  const url = new URL(target.href);
  url.port = String((listener.addr as Deno.NetAddr).port);
  return {
    url: url.href,
    packets,
    async stop() {
      listener.close();
      await accepting;
      for (const c of open) {
        try {
          c.close();
        } catch { /* closed meanwhile */ }
      }
      open.clear();
      await Promise.all(work);
    },
  };
}

let pooler: PgBouncer;
let server: Server;
let restaurantId: string;
let headers: Record<string, string>;

Deno.test({
  name: "behind PgBouncer (transaction mode)",
  ignore: !PGBOUNCER,
  async fn(t) {
    const sql = adminSql();
    // Two server connections, so every call reuses them and the checks below
    // meet the connections the calls used.
    pooler = await startPgBouncer({ target: DB_URL, poolSize: 2, maxClientConn: 200 });
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

      await t.step(
        "startup packets: application_name only, DB_STATEMENT_TIMEOUT_MS set and unset",
        async () => {
          for (const timeout of ["800", undefined]) {
            const recorder = recordStartups(new URL(pooler.url));
            // As a hosted project sets it: SUPABASE_DB_URL stays the direct
            // URL, DB_POOLER_URL names the pooler, and the calls go there.
            const env: Record<string, string> = {
              SUPABASE_DB_URL: DB_URL,
              DB_POOLER_URL: recorder.url,
              DB_POOL_MAX: "3",
            };
            if (timeout) env.DB_STATEMENT_TIMEOUT_MS = timeout;
            const own = await startServer(env);
            try {
              const answers = await Promise.all(
                Array.from({ length: 12 }, (_, i) =>
                  send(
                    own.url,
                    "customers-upsert",
                    JSON.stringify({ restaurantId, email: `startup${i % 4}@example.com` }),
                    headers,
                  )),
              );
              assertEquals(answers.map((a) => a.status), answers.map(() => 200));
            } finally {
              await own.stop();
              await recorder.stop();
            }
            assert(recorder.packets.length > 0, "the server connected through DB_POOLER_URL");
            for (const packet of recorder.packets) {
              const refused = Object.keys(packet).filter((k) => !ACCEPTED_STARTUP.has(k));
              assertEquals(refused, [], `timeout ${timeout ?? "unset"}: ${JSON.stringify(packet)}`);
              assertEquals(packet.application_name, "customers-module");
            }
          }
          assert(
            !/unsupported startup parameter/i.test(pooler.log()),
            "PgBouncer refused a startup parameter",
          );
        },
      );

      await t.step("advisory locks are transaction-scoped only", async () => {
        // In the code: every advisory lock of our functions is an _xact_ one.
        const session = await sql`
          select p.oid::regprocedure::text as fn from pg_proc p
          join pg_namespace n on n.oid = p.pronamespace
          where n.nspname in ('public', 'private')
            and p.prosrc ~ 'pg_(try_)?advisory_(un)?lock(_shared)?[[:space:]]*[(]'`;
        assertEquals(session.map((r) => r.fn), []);
        const [{ xact }] = await sql`
          select count(*)::int as xact from pg_proc p
          join pg_namespace n on n.oid = p.pronamespace
          where n.nspname = 'private' and p.prosrc ~ 'pg_advisory_xact_lock'`;
        assert(xact > 0, "the contact locks are pg_advisory_xact_lock");
        // At run time: after calls through the pooler, no server connection holds one.
        const answers = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            send(
              server.url,
              "customers-upsert",
              JSON.stringify({ restaurantId, email: `locks${i % 5}@example.com` }),
              headers,
            )),
        );
        assertEquals(answers.map((a) => a.status), answers.map(() => 200));
        const held = await sql`
          select count(*)::int as n from pg_locks l
          join pg_stat_activity a on a.pid = l.pid
          where l.locktype = 'advisory' and a.datname = current_database()
            and a.pid <> pg_backend_pid()`;
        assertEquals(held[0].n, 0, "an advisory lock outlived its transaction");
      });
    } finally {
      await server.stop();
      await pooler.stop();
      await sql.end({ timeout: 1 });
    }
  },
});
