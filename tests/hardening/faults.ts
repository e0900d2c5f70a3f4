// Database faults, on a dedicated PostgreSQL the suite may stop and start
// (a cluster of its own, scripts/lib/postgres.ts): a restart under load, a statement timeout, a
// connection dropped mid-request, a full pool. Requests must fail fast with
// 503 + Retry-After, the server must neither hang nor crash, service must
// come back by itself, and nothing may be half-written.
import postgres from "postgres";
import { freshDatabase } from "../../scripts/lib/database.ts";
import { freePort } from "../../scripts/lib/net.ts";
import { ensurePostgres } from "../../scripts/lib/postgres.ts";
import { isErrorShape, jsonHeaders, send, type Summary } from "./common.ts";
import { profileDrift, type Server, startServer } from "../helpers.ts";

interface Outcome {
  client: number;
  /** ms since the load began, when the request was sent. */
  started: number;
  ms: number;
  status: number;
  bookingId: string;
  retryAfter: string | null;
  unavailable: boolean;
}

export interface FaultOptions {
  token: string;
  clients: number;
  /** Seconds Postgres stays down during the restart phase. */
  downSeconds: number;
}

export async function runFaults(o: FaultOptions): Promise<Summary> {
  const failures: string[] = [];
  // Its own cluster, never SUPABASE_DB_URL's: this suite stops it. On
  // FAULT_DB_PORT when set, else on a port the kernel says is free now: a
  // fixed default would sit in the ephemeral range, where any client
  // connection of this run (the load slice opens thousands) may hold it.
  const port = Number(Deno.env.get("FAULT_DB_PORT") ?? freePort());
  const cluster = await ensurePostgres({
    name: "fault-postgres",
    port,
    portVariable: "FAULT_DB_PORT",
    command: "npm test",
    maxConnections: 100,
    own: true,
  });
  const { url } = await freshDatabase(cluster.url, "faults", { seed: false });
  const admin = postgres(url, { prepare: false, max: 3, onnotice: () => {} });
  const [{ id: restaurantId }] = await admin`
    insert into public.restaurants (name, phone_region) values ('Faults', 'GB') returning id`;
  const headers = jsonHeaders(o.token);
  const servers: Server[] = [];
  const serve = async (env: Record<string, string>) => {
    const s = await startServer({ SUPABASE_DB_URL: url, DB_CONNECT_TIMEOUT_S: "2", ...env });
    servers.push(s);
    return s;
  };
  const upsert = (server: Server, email: string, bookingId = crypto.randomUUID()) =>
    send(
      server.url,
      "customers-upsert",
      JSON.stringify({ restaurantId, email, booking: { id: bookingId, covers: 2 } }),
      headers,
    );
  let count = 0;
  /** Resolves once `n` of the functions' connections wait on a lock (observed, at most 10 s). */
  const lockWaiters = async (n: number) => {
    const until = performance.now() + 10_000;
    while (performance.now() < until) {
      const [{ waiting }] = await admin`
        select count(*)::int as waiting from pg_stat_activity
        where application_name = 'customers-module' and wait_event_type = 'Lock'`;
      if (waiting >= n) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    failures.push(`expected ${n} requests waiting on a lock; they never did`);
  };

  try {
    // 1. Stop Postgres under load, start it again. "Down" is judged from
    // observed events only: from when `pg_ctl stop -w` has returned (the
    // server has shut down; a connection attempt is then refused) to when
    // `pg_ctl start` is begun. A request that starts and finishes inside that
    // span cannot have reached Postgres, so it must not be a 200.
    const s1 = await serve({ DB_POOL_MAX: "4", DB_QUERY_TIMEOUT_MS: "3000" });
    const outcomes: Outcome[] = [];
    const t0 = performance.now();
    let running = true;
    const load = Promise.all(Array.from({ length: o.clients }, async (_, c) => {
      for (let i = 0; running; i++) {
        const bookingId = crypto.randomUUID();
        const started = performance.now() - t0;
        // A request that gets no HTTP answer at all is recorded as status 0.
        const answer = await upsert(s1, `fault.${c}.${i % 20}@example.com`, bookingId).catch(
          () => null,
        );
        outcomes.push({
          client: c,
          started,
          ms: answer?.ms ?? performance.now() - t0 - started,
          status: answer?.status ?? 0,
          bookingId,
          retryAfter: answer?.headers.get("retry-after") ?? null,
          unavailable: isErrorShape(answer?.body, "unavailable"),
        });
        // Back off a little after a refusal, as a client honouring Retry-After would.
        if (answer?.status !== 200) await new Promise((r) => setTimeout(r, 50));
      }
    }));
    /** Resolves once every client has an outcome that `seen` accepts, or at `limitMs`. */
    const everyClient = async (seen: (x: Outcome) => boolean, limitMs: number) => {
      const until = performance.now() + limitMs;
      const clientsSeen = () => new Set(outcomes.filter(seen).map((x) => x.client)).size;
      while (clientsSeen() < o.clients && performance.now() < until) {
        await new Promise((r) => setTimeout(r, 20));
      }
      return clientsSeen() === o.clients;
    };
    let downFrom = Infinity;
    let downUntil = Infinity;
    try {
      // Under load first: every client has been served.
      if (!(await everyClient((x) => x.status === 200, 30_000))) {
        failures.push("restart: not every client was served before the stop");
      }
      await cluster.stop();
      downFrom = performance.now() - t0;
      const probe = await Deno.connect({ hostname: "127.0.0.1", port }).then(
        (conn) => (conn.close(), "accepted"),
        (error) => error instanceof Deno.errors.ConnectionRefused ? "refused" : String(error),
      );
      if (probe !== "refused") {
        failures.push(`restart: after pg_ctl stop, a connection was ${probe}`);
      }
      // Down for at least downSeconds, and until every client has had an
      // answer to a request it sent while Postgres was down.
      const downFor = performance.now() + o.downSeconds * 1000;
      await everyClient((x) => x.started >= downFrom, 20_000);
      await new Promise((r) => setTimeout(r, Math.max(0, downFor - performance.now())));
      downUntil = performance.now() - t0;
      await cluster.start();
      // Run on until every client has been served again (at most 10 s).
      await everyClient((x) => x.started >= downUntil && x.status === 200, 10_000);
    } finally {
      running = false;
      await load;
    }
    count += outcomes.length;

    const odd = outcomes.filter((x) =>
      x.status !== 200 && !(x.status === 503 && x.unavailable && Number(x.retryAfter) > 0)
    );
    if (odd.length) {
      // The server's log lines of its failures name the error kind and code (never a contact).
      const failed = s1.logs.filter((l) => /"status":(5\d\d|4\d\d)/.test(l) && !l.includes("503"));
      failures.push(
        `restart: ${odd.length} answers neither 200 nor 503 unavailable with Retry-After (e.g. ${
          odd[0].status
        }): ${failed.slice(0, 3).join(" ")}`,
      );
    }
    const whileDown = outcomes.filter((x) =>
      x.started >= downFrom && x.started + x.ms <= downUntil
    );
    if (whileDown.length === 0) {
      failures.push("restart: no request was answered while Postgres was down");
    }
    if (whileDown.some((x) => x.status === 200)) {
      failures.push("restart: a 200 while Postgres was down");
    }
    const slowest = Math.max(0, ...outcomes.filter((x) => x.status === 503).map((x) => x.ms));
    if (slowest > 5000) failures.push(`restart: a 503 took ${slowest.toFixed(0)} ms (limit 5000)`);
    const back = outcomes.filter((x) => x.started >= downUntil && x.status === 200).map((x) =>
      x.started + x.ms
    );
    const recovery = back.length ? Math.min(...back) - downUntil : Infinity;
    if (recovery > 5000) {
      failures.push(`restart: service came back after ${recovery.toFixed(0)} ms (limit 5000)`);
    }
    const alive = await fetch(`${s1.url}/functions/v1/customers-upsert`, { method: "OPTIONS" });
    await alive.body?.cancel();
    if (alive.status !== 204) failures.push("restart: the server no longer answers");
    const acknowledged = outcomes.filter((x) => x.status === 200).map((x) => x.bookingId);
    const [{ missing }] = await admin`
      select count(*)::int as missing from unnest(${acknowledged}::uuid[]) b(id)
      where not exists (select 1 from public.customer_bookings e
                        where e.restaurant_id = ${restaurantId} and e.booking_id = b.id)`;
    if (missing) failures.push(`restart: ${missing} acknowledged bookings were not recorded`);
    console.log(
      `  restart: ${outcomes.length} requests, ${whileDown.length} while down (slowest 503 ${
        slowest.toFixed(0)
      } ms), ` +
        `service back ${recovery.toFixed(0)} ms after start`,
    );

    // 2. Statement timeout: a request blocked on a contact someone else holds.
    const s2 = await serve({
      DB_POOL_MAX: "4",
      DB_STATEMENT_TIMEOUT_MS: "800",
      DB_QUERY_TIMEOUT_MS: "5000",
    });
    const holder = await admin.reserve();
    const lockKey = (email: string) => `${restaurantId} e ${email}`;
    await holder`select pg_advisory_lock(hashtextextended(${lockKey("held@example.com")}, 0))`;
    const timed = await upsert(s2, "held@example.com");
    count++;
    if (timed.status !== 503 || !isErrorShape(timed.body, "unavailable") || timed.ms > 3000) {
      failures.push(`statement timeout: ${timed.status} after ${timed.ms.toFixed(0)} ms`);
    }

    // 3. The connection dropped while the request waits.
    const pending = upsert(s2, "held@example.com");
    await lockWaiters(1);
    await admin`
      select pg_terminate_backend(pid) from pg_stat_activity
      where application_name = 'customers-module' and wait_event_type = 'Lock'`;
    const dropped = await pending;
    count++;
    if (dropped.status !== 503 || !isErrorShape(dropped.body, "unavailable")) {
      failures.push(
        `dropped connection: ${dropped.status} ${JSON.stringify(dropped.body).slice(0, 100)}`,
      );
    }
    await holder`select pg_advisory_unlock_all()`;
    const afterDrop = await upsert(s2, "held@example.com");
    count++;
    if (afterDrop.status !== 200) failures.push(`after a dropped connection: ${afterDrop.status}`);

    // 4. A full pool: every connection blocked, one more request queued.
    const s3 = await serve({ DB_POOL_MAX: "2", DB_QUERY_TIMEOUT_MS: "1500" });
    await holder`select pg_advisory_lock(hashtextextended(${lockKey("pool@example.com")}, 0))`;
    const blocked = [upsert(s3, "pool@example.com"), upsert(s3, "pool@example.com")];
    await lockWaiters(2);
    const queued = await upsert(s3, "queued@example.com");
    const answers = await Promise.all(blocked);
    count += answers.length + 1;
    for (const a of answers) {
      if (a.status !== 503 || !isErrorShape(a.body, "unavailable") || a.ms > 5000) {
        failures.push(`full pool: a blocked request got ${a.status} after ${a.ms.toFixed(0)} ms`);
      }
    }
    // The queued request either got a connection freed by a cancelled one
    // before its own deadline, or gave up at it: never a hang.
    const queuedOk = queued.status === 200 ||
      (queued.status === 503 && isErrorShape(queued.body, "unavailable"));
    if (!queuedOk || queued.ms > 5000) {
      failures.push(`full pool: queued request ${queued.status} after ${queued.ms.toFixed(0)} ms`);
    }
    await holder`select pg_advisory_unlock_all()`;
    holder.release();
    const recovered = await upsert(s3, "queued@example.com");
    count++;
    if (recovered.status !== 200) failures.push(`full pool: no recovery (${recovered.status})`);

    // Nothing half-written: every profile equals the recount of its bookings.
    const off = (await profileDrift(admin)).length;
    if (off) failures.push(`${off} profiles differ from their bookings' recount`);
    const crashed = servers.filter((s) =>
      s.logs.some((l) => l.includes("panicked") || l.includes("Uncaught"))
    );
    if (crashed.length) failures.push("a server logged an uncaught error");
  } finally {
    for (const s of servers) await s.stop();
    await admin.end({ timeout: 1 });
    await cluster.stop();
  }
  return {
    suite: "database faults",
    tried: "restart under load, statement timeout, dropped connection, full pool",
    count,
    failures,
  };
}
