// `npm run bench`: the three paths side by side on the same workloads.
//   limit       private.customers_upsert over postgres.js (no HTTP)
//   functions   the real functions server over HTTP, with a verified JWT
//   seed        the design note's sequential approach behind the same HTTP
// Every run starts from a fresh clone of a migrated template database. The
// figures are printed and written to bench/results/latest.json and
// bench/latency.svg; nothing here fails on speed.
import postgres from "postgres";
import type { Claims } from "../supabase/functions/_shared/auth.ts";
import { upsertCustomer } from "../supabase/functions/_shared/customers.ts";
import { createDb } from "../supabase/functions/_shared/db.ts";
import type { UpsertRequest } from "../supabase/functions/_shared/schemas.ts";
import { renderChart } from "./chart.ts";
import { makeWorkload, type WorkloadName, WORKLOADS } from "./workloads.ts";
import { freePort, signHs256, type SpawnedServer, spawnServer } from "./process.ts";

const ADMIN_URL = Deno.env.get("BENCH_ADMIN_URL")!;
const TEMPLATE = Deno.env.get("BENCH_TEMPLATE") ?? "bench_template";
const SCALE = Number(Deno.env.get("BENCH_SCALE") ?? "1");
// Each configuration runs this many times, paths interleaved; the run with
// the median throughput is reported (a 2-core VM is noisy run to run).
const REPEAT = Number(Deno.env.get("BENCH_REPEAT") ?? "3");
// A second matrix (one run per row) with every answer from Postgres held
// this long by a proxy, as a network would; 0 skips it.
const DELAY_MS = Number(Deno.env.get("BENCH_DB_DELAY_MS") ?? "1");
const DB_PORT = new URL(Deno.env.get("BENCH_ADMIN_URL")!).port || "5432";
const PGBENCH = Deno.env.get("PGBENCH") ?? "";
const JWT_SECRET = "bench-secret-with-at-least-32-characters-long!!";
const POOL = 16;
const CONCURRENCY = [1, 16, 64];
const PATHS = ["limit", "functions", "seed"] as const;
type PathName = (typeof PATHS)[number];
const service: Claims = { role: "service_role" };
const token = await signHs256(
  { role: "service_role", iss: "supabase", exp: 4102444800 },
  JWT_SECRET,
);
const only = (Deno.env.get("BENCH_ONLY") ?? "").split(",").filter(Boolean);

export interface RunResult {
  workload: WorkloadName;
  path: PathName;
  concurrency: number;
  requests: number;
  errors: number;
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  statements: number;
  roundTrips: number;
  peakRssMiB: number | null;
  verify: Verification;
}

interface Verification {
  customers: number;
  expectedCustomers: number;
  duplicates: number;
  profilesOffLedger: number;
  bookingsCounted: number;
  expectedBookings: number;
  ok: boolean;
}

const admin = postgres(ADMIN_URL, { prepare: false, max: 2, onnotice: () => {} });
let runNo = 0;

async function freshDatabase(): Promise<
  { name: string; url: string; restaurantId: string; warmupId: string }
> {
  const name = `bench_run_${Deno.pid}_${runNo++}`;
  await admin.unsafe(`create database ${name} template ${TEMPLATE}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const sql = postgres(url.href, { prepare: false, max: 1, onnotice: () => {} });
  const [{ id }, { id: warmupId }] = await sql`
    insert into public.restaurants (name, phone_region)
    values ('Bench Bistro', 'GB'), ('Warm-up Cafe', 'GB') returning id`;
  await sql.end();
  return { name, url: url.href, restaurantId: id, warmupId };
}

async function dropDatabase(name: string) {
  await admin.unsafe(`drop database if exists ${name} with (force)`);
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}

/** Run `call` over `items` with `concurrency` workers; latencies in ms. */
async function drive<T>(
  label: string,
  items: T[],
  concurrency: number,
  call: (item: T) => Promise<boolean>,
  silent = false,
): Promise<{ latencies: number[]; errors: number; seconds: number }> {
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const started = performance.now();
  const progress = silent
    ? undefined
    : setInterval(() => reportProgress(label, next, items.length), 1000);
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++];
      const t0 = performance.now();
      let ok = false;
      try {
        ok = await call(item);
      } catch {
        ok = false;
      }
      latencies.push(performance.now() - t0);
      if (!ok) errors++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  clearInterval(progress);
  if (!silent) reportProgress(label, items.length, items.length, true);
  return { latencies, errors, seconds: (performance.now() - started) / 1000 };
}

const tty = Deno.stderr.isTerminal();
function reportProgress(label: string, done: number, total: number, final = false) {
  const line = `  ${label.padEnd(34)} ${String(done).padStart(6)}/${total}`;
  if (tty) Deno.stderr.writeSync(new TextEncoder().encode(`\r${line}${final ? "\n" : ""}`));
  else if (final || done > 0) console.error(line);
}

async function transactions(sql: postgres.Sql): Promise<number> {
  const [{ n }] = await sql`
    select (xact_commit + xact_rollback)::bigint as n from pg_stat_database where datname = current_database()`;
  return Number(n);
}

async function verify(
  url: string,
  restaurantId: string,
  expectedCustomers: number,
  expectedBookings: number,
  ledger: boolean,
): Promise<Verification> {
  const sql = postgres(url, { prepare: false, max: 1, onnotice: () => {} });
  const [row] = await sql`
    select
      (select count(*) from public.customers where restaurant_id = ${restaurantId})::int as customers,
      (select count(*) from (
        select email_normalized from public.customers where email_normalized is not null
        group by restaurant_id, email_normalized having count(*) > 1
        union all
        select phone_normalized from public.customers where phone_normalized is not null
        group by restaurant_id, phone_normalized having count(*) > 1) d)::int as duplicates,
      (select count(*) from private.profile_drift(${restaurantId}))::int as off_ledger,
      (select coalesce(sum(total_bookings), 0) from public.customer_profiles
       where restaurant_id = ${restaurantId})::int as bookings`;
  await sql.end();
  return {
    customers: row.customers,
    expectedCustomers,
    duplicates: row.duplicates,
    // The seed design keeps no ledger: only its counters can be checked.
    profilesOffLedger: ledger ? row.off_ledger : 0,
    bookingsCounted: row.bookings,
    expectedBookings,
    ok: row.customers === expectedCustomers && row.duplicates === 0 &&
      (!ledger || row.off_ledger === 0) &&
      row.bookings === expectedBookings,
  };
}

function requestsFor(concurrency: number): number {
  return Math.round((concurrency === 1 ? 400 : 2000) * SCALE);
}

async function httpCall(url: string, body: UpsertRequest): Promise<boolean> {
  const response = await fetch(url, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  await response.arrayBuffer();
  return response.status === 200;
}

/** Start a path against a database: a pool (limit) or a server process (functions, seed). */
async function openPath(
  path: PathName,
  directUrl: string,
): Promise<{ call: (r: UpsertRequest) => Promise<boolean>; close: () => Promise<number | null> }> {
  const url = clientUrl(directUrl);
  if (path === "limit") {
    const pool = createDb(url, { max: POOL });
    return {
      call: async (r) => (await upsertCustomer(pool, service, r), true),
      close: async () => (await pool.end(), null),
    };
  }
  const env = {
    SUPABASE_DB_URL: url,
    SUPABASE_JWT_SECRET: JWT_SECRET,
    SUPABASE_URL: "http://127.0.0.1:9",
    DB_POOL_MAX: String(POOL),
  };
  const server: SpawnedServer = await spawnServer(
    [path === "functions" ? "scripts/serve.ts" : "bench/seed_server.ts"],
    env,
  );
  const target = path === "functions"
    ? `${server.url}/functions/v1/customers-upsert`
    : `${server.url}/`;
  return { call: (r) => httpCall(target, r), close: () => server.stop() };
}

/**
 * Statements and round trips per request, in a separate small pass at
 * concurrency 1 without warm-up, so nothing else is counted. Statements are
 * counted by the server: transactions of the run's database (each statement
 * here is its own), read after the clients disconnected, since backends
 * flush their statistics when they exit. Round trips are counted on the wire
 * by a pass-through proxy (bench/delay_proxy.ts, no delay), after a first
 * request that opens the connection.
 */
async function measureRoundTrips(
  workload: WorkloadName,
  path: PathName,
): Promise<{ statements: number; roundTrips: number }> {
  const db = await freshDatabase();
  const w = makeWorkload(workload, db.restaurantId, 61);
  const setupDb = createDb(db.url, { max: 4 });
  for (const r of w.setup) await upsertCustomer(setupDb, service, r);
  await setupDb.end();
  const count = async () => {
    const s = postgres(db.url, { prepare: false, max: 1, onnotice: () => {} });
    const n = await transactions(s);
    await s.end();
    return n;
  };
  const before = await count();
  const proxy = await startProxy(0);
  proxyPort = proxy.port;
  const { call, close } = await openPath(path, db.url);
  proxyPort = null;
  const [first, ...rest] = w.requests;
  await call(first);
  proxy.resetTurns();
  for (const r of rest) await call(r);
  const turns = await proxy.stop();
  await close();
  const after = await count();
  await dropDatabase(db.name);
  // The `before` read itself is one transaction.
  return { statements: (after - before - 1) / w.requests.length, roundTrips: turns / rest.length };
}

const perRequest: Record<string, { statements: number; roundTrips: number }> = {};

async function runOne(
  workload: WorkloadName,
  path: PathName,
  concurrency: number,
): Promise<RunResult> {
  const db = await freshDatabase();
  const w = makeWorkload(workload, db.restaurantId, requestsFor(concurrency));
  const setupDb = createDb(db.url, { max: POOL });
  for (let i = 0; i < w.setup.length; i += 64) {
    await Promise.all(w.setup.slice(i, i + 64).map((r) => upsertCustomer(setupDb, service, r)));
  }
  await setupDb.end();

  const { call, close } = await openPath(path, db.url);

  // Warm-up on another restaurant: opens every pooled connection (and, for
  // the servers, JIT-compiles the hot path) before the clock starts.
  const warmup = makeWorkload("new", db.warmupId, Math.max(2 * concurrency, 2 * POOL)).requests;
  await drive("warm-up", warmup, Math.max(concurrency, POOL), call, true);

  const label = `${workload} / ${path} / c=${concurrency}`;
  const { latencies, errors, seconds } = await drive(label, w.requests, concurrency, call);
  const peak = await close();
  const verification = await verify(
    db.url,
    db.restaurantId,
    w.customers,
    w.bookings,
    path !== "seed",
  );
  await dropDatabase(db.name);
  latencies.sort((a, b) => a - b);
  return {
    workload,
    path,
    concurrency,
    requests: w.requests.length,
    errors,
    rps: w.requests.length / seconds,
    p50: percentile(latencies, 0.5),
    p95: percentile(latencies, 0.95),
    p99: percentile(latencies, 0.99),
    max: latencies[latencies.length - 1],
    statements: perRequest[`${workload}/${path}`]?.statements ?? NaN,
    roundTrips: perRequest[`${workload}/${path}`]?.roundTrips ?? NaN,
    peakRssMiB: peak,
    verify: verification,
  };
}

/** While set, workload traffic goes through bench/delay_proxy.ts on this port. */
let proxyPort: number | null = null;

/** The URL a path's clients use: through the delay proxy when one runs. */
function clientUrl(url: string): string {
  if (proxyPort === null) return url;
  const u = new URL(url);
  u.port = String(proxyPort);
  return u.href;
}

/**
 * Run `fn` with every client's traffic to Postgres going through a proxy
 * that holds each answer `delayMs` before passing it on (setup and checks
 * stay direct). With a 1 ms hold, a `select 1` round trip measures ~2.3 ms:
 * timers overshoot on this VM.
 */
interface Proxy {
  port: number;
  resetTurns(): void;
  /** Stop it; returns the round trips it counted since the last reset. */
  stop(): Promise<number>;
}

async function startProxy(delayMs: number): Promise<Proxy> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "bench/delay_proxy.ts", String(port), DB_PORT, String(delayMs)],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  while (!pending.includes("ready")) pending += (await reader.read()).value ?? "";
  return {
    port,
    resetTurns: () => child.kill("SIGUSR1"),
    async stop() {
      child.kill("SIGTERM");
      let out = pending;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        out += value;
      }
      await child.status;
      return Number(/turns (\d+)/.exec(out)?.[1] ?? "NaN");
    },
  };
}

/**
 * Run `fn` with every client's traffic to Postgres going through a proxy
 * that holds each answer `delayMs` before passing it on (setup and checks
 * stay direct). With a 1 ms hold, a `select 1` round trip measures ~2.3 ms:
 * timers overshoot on this VM.
 */
async function withNetworkDelay<T>(delayMs: number, fn: () => Promise<T>): Promise<T> {
  const proxy = await startProxy(delayMs);
  proxyPort = proxy.port;
  try {
    return await fn();
  } finally {
    proxyPort = null;
    await proxy.stop();
  }
}

/** pgbench: the bare INSERT … ON CONFLICT of one customer row, what Postgres alone does. */
async function pgbench(concurrency: number): Promise<{ tps: number; latencyMs: number } | null> {
  if (!PGBENCH) return null;
  const db = await freshDatabase();
  const script = await Deno.makeTempFile({ suffix: ".sql" });
  await Deno.writeTextFile(
    script,
    `\\set n random(1, 100000000)
insert into public.customers (restaurant_id, email, email_normalized)
values ('${db.restaurantId}', 'g' || :n || '@example.com', 'g' || :n || '@example.com')
on conflict (restaurant_id, email_normalized) do update set updated_at = now();
`,
  );
  const out = await new Deno.Command(PGBENCH, {
    args: [
      "-n",
      "-f",
      script,
      "-c",
      String(concurrency),
      "-j",
      "2",
      "-T",
      String(Math.max(3, 5 * SCALE)),
      db.url,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(script);
  await dropDatabase(db.name);
  const text = new TextDecoder().decode(out.stdout);
  const tps = /tps = ([0-9.]+)/.exec(text);
  const latency = /latency average = ([0-9.]+) ms/.exec(text);
  return tps && latency ? { tps: Number(tps[1]), latencyMs: Number(latency[1]) } : null;
}

/** Process start to first answer, median of 5, for each function and a hello world. */
async function coldStarts(): Promise<Array<{ name: string; medianMs: number; minMs: number }>> {
  const db = await freshDatabase();
  const env = {
    SUPABASE_DB_URL: db.url,
    SUPABASE_JWT_SECRET: JWT_SECRET,
    SUPABASE_URL: "http://127.0.0.1:9",
  };
  const targets = [
    { name: "hello world (bare Deno.serve)", entry: "bench/hello.ts", body: null },
    {
      name: "customers-upsert",
      entry: "supabase/functions/customers-upsert/index.ts",
      body: { restaurantId: db.restaurantId, email: "cold@example.com" },
    },
    {
      name: "customer-cancel",
      entry: "supabase/functions/customer-cancel/index.ts",
      body: {
        restaurantId: db.restaurantId,
        bookingId: crypto.randomUUID(),
        email: "cold@example.com",
      },
    },
  ];
  const results = [];
  for (const target of targets) {
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      const server = await spawnServer([target.entry], env, {
        firstRequest: target.body === null ? { method: "GET" } : {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify(target.body),
        },
      });
      times.push(server.firstAnswerAt! - started);
      await server.stop();
    }
    times.sort((a, b) => a - b);
    results.push({ name: target.name, medianMs: times[2], minMs: times[0] });
  }
  await dropDatabase(db.name);
  return results;
}

// --- main ---------------------------------------------------------------------

const [{ version }] = await admin`select current_setting('server_version') as version`;
console.log(
  `# customers module benchmark (PostgreSQL ${version}, ${navigator.hardwareConcurrency} cores, ` +
    `scale ${SCALE}, median of ${REPEAT} runs)\n`,
);
/** Every workload × concurrency × path, `repeat` times each; the median-throughput run per row. */
async function runMatrix(
  repeat: number,
  workloads: WorkloadName[],
  measure: boolean,
): Promise<RunResult[]> {
  const results: RunResult[] = [];
  for (const workload of workloads) {
    for (const path of PATHS) {
      if (measure) perRequest[`${workload}/${path}`] = await measureRoundTrips(workload, path);
    }
    for (const concurrency of CONCURRENCY) {
      const runs = new Map<PathName, RunResult[]>(PATHS.map((p) => [p, []]));
      for (let rep = 0; rep < repeat; rep++) {
        for (const path of PATHS) runs.get(path)!.push(await runOne(workload, path, concurrency));
      }
      for (const path of PATHS) {
        const sorted = runs.get(path)!.sort((a, b) => a.rps - b.rps);
        const median = sorted[Math.floor(sorted.length / 2)];
        // Every repetition's data check must pass, not only the reported one's.
        const failed = sorted.find((r) => !r.verify.ok);
        results.push(failed && median.verify.ok ? { ...median, verify: failed.verify } : median);
      }
    }
  }
  return results;
}

const workloads = WORKLOADS.filter((w) => only.length === 0 || only.includes(w));
const results = await runMatrix(REPEAT, workloads, true);
// The same matrix with a network between the clients and Postgres, where
// round trips cost what they cost in production.
const network = DELAY_MS > 0
  ? await withNetworkDelay(DELAY_MS, () => runMatrix(1, workloads, false))
  : null;
const pgbenchResults: Record<number, { tps: number; latencyMs: number } | null> = {};
for (const c of CONCURRENCY) pgbenchResults[c] = await pgbench(c);
const cold = await coldStarts();
await admin.end();

const f = (n: number, digits = 1) => Number.isFinite(n) ? n.toFixed(digits) : "—";
const lines: string[] = [
  `PostgreSQL ${version}, ${navigator.hardwareConcurrency} cores, scale ${SCALE}, median of ${REPEAT} runs per row`,
];
function tables(results: RunResult[], heading: string) {
  for (const workload of WORKLOADS) {
    const rows = results.filter((r) => r.workload === workload);
    if (rows.length === 0) continue;
    lines.push(`\n## ${heading}${workload}\n`);
    lines.push(
      "| path | c | req/s | p50 ms | p95 ms | p99 ms | max ms | errors | statements/req | round trips/req | peak RSS MiB | data check |",
    );
    lines.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for (const r of rows) {
      const v = r.verify;
      const check = v.ok
        ? `ok (${v.customers} customers, ${v.bookingsCounted} bookings, 0 off-ledger)`
        : `**off**: ${v.customers}/${v.expectedCustomers} customers, ${v.bookingsCounted}/${v.expectedBookings} bookings, ${v.profilesOffLedger} off-ledger, ${v.duplicates} dup`;
      lines.push(
        `| ${r.path} | ${r.concurrency} | ${f(r.rps, 0)} | ${f(r.p50, 2)} | ${f(r.p95, 2)} | ${
          f(r.p99, 2)
        } | ${f(r.max, 1)} | ${r.errors} | ${f(r.statements, 2)} | ${f(r.roundTrips, 2)} | ${
          r.peakRssMiB === null ? "—" : f(r.peakRssMiB, 0)
        } | ${check} |`,
      );
    }
    lines.push("");
    lines.push(
      "| c | functions / limit (req/s) | functions / seed (req/s) | functions p99 / seed p99 |",
    );
    lines.push("|---:|---:|---:|---:|");
    for (const c of CONCURRENCY) {
      const get = (p: PathName) => rows.find((r) => r.path === p && r.concurrency === c)!;
      lines.push(
        `| ${c} | ${f(get("functions").rps / get("limit").rps, 2)} | ${
          f(get("functions").rps / get("seed").rps, 2)
        } | ${f(get("functions").p99 / get("seed").p99, 2)} |`,
      );
    }
  }
}
tables(results, "");
if (network) tables(network, "over a network (~2.3 ms round trip to Postgres): ");
lines.push("\n## pgbench: bare INSERT … ON CONFLICT of one customer row\n");
if (PGBENCH) {
  lines.push("| c | tps | latency avg ms |", "|---:|---:|---:|");
  for (const c of CONCURRENCY) {
    const r = pgbenchResults[c];
    lines.push(`| ${c} | ${r ? f(r.tps, 0) : "—"} | ${r ? f(r.latencyMs, 3) : "—"} |`);
  }
} else {
  lines.push("pgbench not found on this machine: skipped.");
}
lines.push("\n## cold start: process start to first answer (median of 5)\n");
lines.push("| entry | median ms | min ms |", "|---|---:|---:|");
for (const c of cold) lines.push(`| ${c.name} | ${f(c.medianMs, 0)} | ${f(c.minMs, 0)} |`);
const report = lines.join("\n");
console.log(report);

await Deno.mkdir("bench/results", { recursive: true });
await Deno.writeTextFile(
  "bench/results/latest.json",
  JSON.stringify(
    { version, scale: SCALE, results, network, pgbench: pgbenchResults, cold },
    null,
    2,
  ),
);
await Deno.writeTextFile("bench/results/latest.md", report + "\n");
await Deno.writeTextFile("bench/latency.svg", renderChart(results));
if (network) await Deno.writeTextFile("bench/latency-network.svg", renderChart(network));
console.log("\nwrote bench/results/latest.{json,md} and bench/latency.svg");
