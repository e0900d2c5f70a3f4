// `npm run bench:scale`: cost against data size. One database per size
// (10⁴, 10⁵, 10⁶ guests; BENCH_SCALE_MAX_GUESTS caps it), each cloned from
// the migrated template and filled by generated SQL (bench/scale_fill.ts),
// ~10 bookings per guest. Then every operation of bench/scale_ops.ts is
// measured through a real functions server per database over HTTP at c=16
// (p50, p99, req/s), the sizes interleaved run by run (op by op, size by
// size, repeated), so load from elsewhere on the machine falls on every
// size alike; then each operation SQL-only (the product's code, no HTTP,
// one call at a time), its shared-buffer use per call, and its plans
// (auto_explain). Table and index sizes are read after the fill, the drift
// check runs on every database at the end. Writes
// bench/results/scale.{json,md} and bench/scale.svg; nothing here fails on
// speed.
import { createDb } from "../supabase/functions/_shared/db.ts";
import type { Claims } from "../supabase/functions/_shared/auth.ts";
import { drive, summarize, type Summary } from "./measure.ts";
import { type Client, connect, withClient } from "./pg.ts";
import {
  type BufferUse,
  bufferUse,
  explainCalls,
  type PlannedCall,
  type PlanReport,
} from "./plans.ts";
import { signHs256, type SpawnedServer, spawnServer } from "./process.ts";
import {
  fillGuests,
  fillRestaurantIds,
  fillRestaurants,
  type FillTimes,
  RESTAURANTS,
  type SizeRow,
  tableSizes,
} from "./scale_fill.ts";
import { functionExists, SCALE_OPS, type ScaleOp } from "./scale_ops.ts";
import { renderScaleChart } from "./scale_chart.ts";

const env = (name: string, fallback: string) => Deno.env.get(name) || fallback;
const url = Deno.env.get("BENCH_SCALE_URL");
if (!url) throw new Error("BENCH_SCALE_URL is not set: run `npm run bench:scale`");
const template = new URL(url).pathname.slice(1);
const urlOf = (name: string) => {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.href;
};
const root = new URL("../", import.meta.url).pathname;
const maxGuests = Number(env("BENCH_SCALE_MAX_GUESTS", "1000000"));
const SIZES = [10_000, 100_000, 1_000_000, 10_000_000].filter((s) => s <= maxGuests);
const REQUESTS = Number(env("BENCH_SCALE_REQUESTS", "2000"));
const CONCURRENCY = Number(env("BENCH_SCALE_CONCURRENCY", "16"));
const POOL = 16;
const SECRET = "bench-secret-with-at-least-32-characters-long!!";
const WARMUP = 100;
/** Timed runs per operation and size; the one with the median p50 is reported. */
const REPEAT = Number(env("BENCH_SCALE_REPEAT", "3"));
/** Sequential calls through the product's code without HTTP: the database's own cost. */
const SQL_CALLS = 300;
/** Calls whose shared-buffer use is read (auto_explain with buffers). */
const BUFFER_CALLS = 40;

export interface OpRow {
  op: string;
  guests: number;
  requests: number;
  errors: number;
  summary: Summary;
  /** p50 of every timed run, in run order. */
  runs: number[];
  /** The same operation called SQL-only (product code, no HTTP) one at a time: p50, p99 ms. */
  sql: { p50: number; p99: number };
}

/** The erasure's clearing of the host's rows, before and after the scale run's fix. */
export interface ClearingRow {
  guests: number;
  calls: number;
  /** Median execution time (EXPLAIN ANALYZE, rolled back), ms, and the scans of each form. */
  before: { p50: number; scans: string };
  after: { p50: number; scans: string };
}

const CLEAR_SET = "set customer_name = null, customer_email = null, customer_phone = null";
const CLEAR_KEEP =
  "and (h.customer_name is not null or h.customer_email is not null or h.customer_phone is not null)";
/** The statement as 20261126110000_guest_rights.sql wrote it: an OR over the restaurant's rows. */
const CLEAR_BEFORE = `update public.bookings h ${CLEAR_SET}
  where h.restaurant_id = $1
    and (h.customer_id = $2
         or h.id in (select b.booking_id from public.customer_bookings b where b.customer_id = $2))
    ${CLEAR_KEEP}`;
/** As private.customer_erase now writes it (20261126130000_duplicates.sql): the guest's rows by id. */
const CLEAR_AFTER = `update public.bookings h ${CLEAR_SET}
  where h.restaurant_id = $1
    and h.id in (
      select x.id from public.bookings x where x.restaurant_id = $1 and x.customer_id = $2
      union
      select b.booking_id from public.customer_bookings b where b.customer_id = $2)
    ${CLEAR_KEEP}`;

/** Both forms of the statement on the same guests, each in a transaction rolled back. */
async function clearing(
  c: Client,
  guests: number,
  bodies: Record<string, unknown>[],
): Promise<ClearingRow> {
  const times = { before: [] as number[], after: [] as number[] };
  const scans = { before: new Set<string>(), after: new Set<string>() };
  const collect = (node: Record<string, unknown>, into: Set<string>) => {
    const type = node["Node Type"] as string;
    const on = node["Relation Name"] ?? node["Index Name"];
    if (/Scan/.test(type) && on) into.add(`${type} on ${on}`);
    for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) {
      collect(child, into);
    }
  };
  for (const body of bodies) {
    for (const form of ["before", "after"] as const) {
      await c.query("begin");
      try {
        const { rows } = await c.query(
          `explain (analyze, format json) ${form === "before" ? CLEAR_BEFORE : CLEAR_AFTER}`,
          [body.restaurantId, body.customerId],
        );
        const plan = rows[0]["QUERY PLAN"][0];
        times[form].push(plan["Execution Time"]);
        collect(plan.Plan, scans[form]);
      } finally {
        await c.query("rollback");
      }
    }
  }
  const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  return {
    guests,
    calls: bodies.length,
    before: { p50: p50(times.before), scans: [...scans.before].sort().join("; ") },
    after: { p50: p50(times.after), scans: [...scans.after].sort().join("; ") },
  };
}

export interface SizeResult {
  guests: number;
  buffers: BufferUse[];
  clearing: ClearingRow | null;
  bookings: number;
  fill: FillTimes;
  sizes: SizeRow[];
  plans: PlanReport[];
  ops: OpRow[];
}

const c = await connect(urlOf("postgres"));
const { rows: [{ version }] } = await c.query<{ version: string }>(
  "select current_setting('server_version') as version",
);
const settings = (await c.query<{ name: string; setting: string }>(
  `select name, current_setting(name) as setting from unnest(array['shared_buffers',
     'work_mem', 'max_wal_size', 'random_page_cost', 'effective_cache_size']) name`,
)).rows.map((r) => `${r.name}=${r.setting}`).join(", ");
const cpu = (() => {
  try {
    return /model name\s*:\s*(.+)/.exec(Deno.readTextFileSync("/proc/cpuinfo"))?.[1] ?? "?";
  } catch {
    return "?";
  }
})();
const memGiB = Math.round(Deno.systemMemoryInfo().total / 2 ** 30);
const machine = `${navigator.hardwareConcurrency} cores (${cpu}), ${memGiB} GiB RAM`;
console.log(`# customers module at scale (PostgreSQL ${version}; ${machine})`);
console.log(`sizes ${SIZES.join(", ")} guests; ${RESTAURANTS} restaurants; c=${CONCURRENCY}\n`);

const skipped: string[] = [];
const ops: ScaleOp[] = [];
await withClient(url, async (t) => {
  for (const op of SCALE_OPS) {
    if (await functionExists(t, op.requires)) ops.push(op);
    else skipped.push(`${op.name}: private.${op.requires} does not exist in this database`);
  }
});
for (const note of skipped) console.log(`skipped ${note}`);

const token = await signHs256({ role: "service_role", iss: "supabase", exp: 4102444800 }, SECRET);
const service = { role: "service_role" } as Claims;

interface Sized {
  guests: number;
  name: string;
  url: string;
  client: Client;
  restaurants: string[];
  server: SpawnedServer | null;
  result: SizeResult;
}
const sized: Sized[] = [];
const drift: { guests: number; profiles: number; seconds: number }[] = [];
try {
  // Fill: one database per size, each from empty.
  for (const guests of SIZES) {
    const name = `${template}_${guests}`;
    await c.query(`drop database if exists ${name} with (force)`);
    await c.query(`create database ${name} template ${template}`);
    const client = await connect(urlOf(name));
    console.log(`\n== fill ${name}: ${guests} guests`);
    await fillRestaurants(client);
    const fill = await fillGuests(client, 0, guests);
    console.log(
      `   ${fill.total.toFixed(1)} s (customers ${fill.customers.toFixed(1)}, consent ${
        fill.consent.toFixed(1)
      }, bookings+profiles+host rows ${fill.bookings.toFixed(1)}, indexes ${
        fill.indexes.toFixed(1)
      }, merges ${fill.merges.toFixed(1)}, vacuum analyze ${fill.vacuum.toFixed(1)})`,
    );
    const sizes = await tableSizes(client);
    sized.push({
      guests,
      name,
      url: urlOf(name),
      client,
      restaurants: await fillRestaurantIds(client),
      server: null,
      result: {
        guests,
        bookings: sizes.find((s) => s.table === "customer_bookings")?.rows ?? 0,
        fill,
        sizes,
        plans: [],
        buffers: [],
        clearing: null,
        ops: [],
      },
    });
  }

  // Plans, and the erasure's host-row statement before and after, per size.
  for (const s of sized) {
    const planned: PlannedCall[] = [];
    for (const [k, op] of ops.entries()) {
      const [body] = await op.draw(s.client, {
        guests: s.guests,
        n: 20,
        seed: 9000 + k,
        restaurants: s.restaurants,
        tag: "plan",
      });
      if (body) planned.push({ op: op.name, run: (db, claims) => op.call(db, claims, body) });
    }
    s.result.plans = await explainCalls(s.url, planned);
    const seq = s.result.plans.filter((p) => p.seqScans.length);
    console.log(
      `   plans at ${s.guests}: ${
        seq.length ? seq.map((p) => `${p.op}: ${p.seqScans.join(", ")}`).join("; ") : "no seq scan"
      }`,
    );
    const erase = ops.find((op) => op.endpoint === "customer-erase");
    if (erase) {
      s.result.clearing = await clearing(
        s.client,
        s.guests,
        await erase.draw(s.client, {
          guests: s.guests,
          n: 60,
          seed: 4242,
          restaurants: s.restaurants,
          tag: "clear",
        }),
      );
      console.log(
        `   host-row clearing at ${s.guests}: before ${
          s.result.clearing.before.p50.toFixed(3)
        } ms, after ${s.result.clearing.after.p50.toFixed(3)} ms`,
      );
    }
  }

  // HTTP, interleaved: run r of every operation at every size, then run r+1.
  for (const s of sized) {
    s.server = await spawnServer([`${root}scripts/serve.ts`], {
      SUPABASE_DB_URL: s.url,
      SUPABASE_JWT_SECRET: SECRET,
      SUPABASE_URL: "http://127.0.0.1:9",
      DB_POOL_MAX: String(POOL),
    });
  }
  type Timed = { requests: number; errors: number; summary: Summary };
  const timed = new Map<string, Timed[]>();
  for (let r = 0; r < REPEAT; r++) {
    for (const [k, op] of ops.entries()) {
      for (const s of sized) {
        const n = Math.max(CONCURRENCY * 4, Math.round(REQUESTS * op.share));
        const post = async (body: Record<string, unknown>) => {
          const response = await fetch(`${s.server!.url}/functions/v1/${op.endpoint}`, {
            method: "POST",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body: JSON.stringify(body),
          });
          await response.arrayBuffer();
          return response.status === 200;
        };
        const bodies = await op.draw(s.client, {
          guests: s.guests,
          n: WARMUP + n,
          seed: 1000 * (k + 1) + 100 * r,
          restaurants: s.restaurants,
          tag: `r${r}x${k}`,
        });
        await drive(`${op.name} warm-up`, bodies.slice(0, WARMUP), CONCURRENCY, post, true);
        const slice = bodies.slice(WARMUP);
        const run = await drive(
          `${op.name} @ ${s.guests} (run ${r + 1})`,
          slice,
          CONCURRENCY,
          post,
        );
        const key = `${op.name}@${s.guests}`;
        timed.set(key, [
          ...(timed.get(key) ?? []),
          { requests: slice.length, errors: run.errors, summary: summarize(run) },
        ]);
      }
    }
  }
  for (const s of sized) await s.server?.stop();

  // SQL-only, and shared-buffer use per call.
  for (const [k, op] of ops.entries()) {
    for (const s of sized) {
      const bodies = await op.draw(s.client, {
        guests: s.guests,
        n: SQL_CALLS + BUFFER_CALLS,
        seed: 50_000 + k,
        restaurants: s.restaurants,
        tag: `sql${k}`,
      });
      const direct = createDb(s.url, { max: 1 });
      let sql: { p50: number; p99: number };
      try {
        const run = await drive(
          `${op.name} SQL-only @ ${s.guests}`,
          bodies.slice(BUFFER_CALLS),
          1,
          async (body) => (await op.call(direct, service, body), true),
          true,
        );
        const summary = summarize(run);
        sql = { p50: summary.p50, p99: summary.p99 };
      } finally {
        await direct.end();
      }
      s.result.buffers.push(
        await bufferUse(
          s.url,
          op.name,
          bodies.slice(0, BUFFER_CALLS).map((body) => ({
            op: op.name,
            run: (db, claims) => op.call(db, claims, body),
          })),
        ),
      );
      const runs = timed.get(`${op.name}@${s.guests}`) ?? [];
      const middle = [...runs].sort((a, b) => a.summary.p50 - b.summary.p50)[
        Math.floor(runs.length / 2)
      ];
      s.result.ops.push({
        op: op.name,
        guests: s.guests,
        requests: middle.requests,
        errors: runs.reduce((e, t) => e + t.errors, 0),
        summary: middle.summary,
        runs: runs.map((t) => t.summary.p50),
        sql,
      });
      const b = s.result.buffers[s.result.buffers.length - 1];
      console.log(
        `   ${op.name} @ ${s.guests}: HTTP p50 ${middle.summary.p50.toFixed(2)} ms (runs ${
          runs.map((t) => t.summary.p50.toFixed(1)).join(", ")
        }), ${middle.summary.rps.toFixed(0)} req/s; SQL-only p50 ${
          sql.p50.toFixed(2)
        } ms; buffers/call hit ${b.hit.toFixed(1)} read ${b.read.toFixed(1)} written ${
          b.written.toFixed(1)
        }${b.error ? ` (${b.error})` : ""}`,
      );
    }
  }

  for (const s of sized) {
    const t0 = performance.now();
    const { rows: [{ n }] } = await s.client.query<{ n: number }>(
      "select count(*)::int as n from private.profile_drift(null)",
    );
    drift.push({ guests: s.guests, profiles: n, seconds: (performance.now() - t0) / 1000 });
    console.log(`drift check at ${s.guests}: ${n} profiles off their recount`);
  }
} finally {
  for (const s of sized) {
    await s.server?.stop();
    await s.client.end().catch(() => {});
    await c.query(`drop database if exists ${s.name} with (force)`).catch(() => {});
  }
  await c.end();
}
const results = sized.map((s) => s.result);

const fillSeconds = results.reduce((s, r) => s + r.fill.total, 0);
const report = renderScaleReport();
console.log("\n" + report);
await Deno.mkdir(`${root}bench/results`, { recursive: true });
await Deno.writeTextFile(
  `${root}bench/results/scale.json`,
  JSON.stringify(
    { version, machine, settings, skipped, results, drift, fillSeconds },
    null,
    2,
  ),
);
await Deno.writeTextFile(`${root}bench/results/scale.md`, report + "\n");
if (results.length > 0) {
  await Deno.writeTextFile(
    `${root}bench/scale.svg`,
    renderScaleChart(results.flatMap((r) => r.ops)),
  );
}
console.log("wrote bench/results/scale.{json,md} and bench/scale.svg");

function renderScaleReport(): string {
  const f = (n: number, d = 2) => n.toFixed(d);
  const int = (n: number) => Math.round(n).toLocaleString("en-US");
  const lines = [
    `## Cost against data size (PostgreSQL ${version}; ${machine})`,
    "",
    `Settings: ${settings}. ${RESTAURANTS} restaurants; c=${CONCURRENCY}, HTTP through the ` +
    `functions server (pool ${POOL}).`,
    "",
    `HTTP: c=${CONCURRENCY}, the median-p50 run of ${REPEAT} (errors: all runs), and the best ` +
    "run's p50 (least disturbed by other load on the machine). SQL-only: the " +
    "same call through the product's code without HTTP, one at a time (the database's own cost).",
    "",
    "| op | guests | requests | errors | req/s | p50 ms | p99 ms | best-run p50 ms | best p50 / smallest | SQL-only p50 ms | p99 ms | SQL p50 / smallest |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const op of ops) {
    const rows = results.flatMap((r) => r.ops).filter((o) => o.op === op.name);
    const best = (row: OpRow) => Math.min(...row.runs);
    const base = rows[0] ? best(rows[0]) : NaN;
    const sqlBase = rows[0]?.sql.p50 ?? NaN;
    for (const row of rows) {
      lines.push(
        `| ${op.name} | ${int(row.guests)} | ${row.requests} | ${row.errors} | ${
          f(row.summary.rps, 0)
        } | ${f(row.summary.p50)} | ${f(row.summary.p99)} | ${f(best(row))} | ${
          f(best(row) / base)
        }× | ${f(row.sql.p50)} | ${f(row.sql.p99)} | ${f(row.sql.p50 / sqlBase)}× |`,
      );
    }
  }
  for (const note of skipped) lines.push("", `Skipped: ${note}.`);
  lines.push(
    "",
    "| guests | bookings | fill s | customers | consent | bookings, profiles, host rows | indexes | merges | vacuum analyze |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  );
  for (const r of results) {
    const t = r.fill;
    lines.push(
      `| ${int(r.guests)} | ${int(r.bookings)} | ${f(t.total, 1)} | ${f(t.customers, 1)} | ${
        f(t.consent, 1)
      } | ${f(t.bookings, 1)} | ${f(t.indexes, 1)} | ${f(t.merges, 1)} | ${f(t.vacuum, 1)} |`,
    );
  }
  lines.push(
    "",
    `Each size is its own database, filled from empty; ${f(fillSeconds, 1)} s in all.`,
    "",
  );
  lines.push(
    "| guests | table | rows | table MiB | index MiB | bytes per guest (table + index) |",
    "|---:|---|---:|---:|---:|---:|",
  );
  for (const r of results) {
    let total = 0;
    for (const s of r.sizes) {
      const per = (s.tableBytes + s.indexBytes) / r.guests;
      total += per;
      lines.push(
        `| ${int(r.guests)} | ${s.table} | ${int(s.rows)} | ${f(s.tableBytes / 2 ** 20, 1)} | ${
          f(s.indexBytes / 2 ** 20, 1)
        } | ${int(per)} |`,
      );
    }
    lines.push(`| ${int(r.guests)} | **all** | | | | **${int(total)}** |`);
  }
  lines.push(
    "",
    "Shared buffers per call (auto_explain with buffers over " + BUFFER_CALLS +
      " calls each, every statement of the call included): found in shared_buffers (hit), read " +
      "from outside them (read: the OS cache or disk), dirtied, and written out to make room.",
    "",
    "| op | guests | hit | read | dirtied | written |",
    "|---|---:|---:|---:|---:|---:|",
  );
  for (const op of ops) {
    for (const r of results) {
      const b = r.buffers.find((b) => b.op === op.name);
      if (!b) continue;
      lines.push(
        `| ${op.name} | ${int(r.guests)} | ${f(b.hit, 1)} | ${f(b.read, 1)} | ${
          f(b.dirtied, 1)
        } | ${f(b.written, 1)} |`,
      );
    }
  }
  const last = results[results.length - 1];
  if (last) {
    lines.push("", `Plans at ${int(last.guests)} guests (auto_explain of every statement):`, "");
    lines.push("| op | sequential scans of growing tables | scans |", "|---|---|---|");
    for (const p of last.plans) {
      lines.push(
        `| ${p.op} | ${p.seqScans.join(", ") || "none"} | ${p.scans.join("; ")}${
          p.error ? ` (error: ${p.error})` : ""
        } |`,
      );
    }
  }
  const cleared = results.flatMap((r) => r.clearing ? [r.clearing] : []);
  if (cleared.length) {
    lines.push(
      "",
      "The erasure's clearing of the host's rows (public.bookings), the statement " +
        "the scale run changed, both forms on the same guests (EXPLAIN ANALYZE, " +
        "rolled back):",
      "",
      "| guests | calls | before: median ms | scans | after: median ms | scans |",
      "|---:|---:|---:|---|---:|---|",
    );
    for (const r of cleared) {
      lines.push(
        `| ${int(r.guests)} | ${r.calls} | ${f(r.before.p50, 3)} | ${r.before.scans} | ${
          f(r.after.p50, 3)
        } | ${r.after.scans} |`,
      );
    }
  }
  for (const d of drift) {
    lines.push(
      "",
      `Drift check after the run, ${int(d.guests)} guests: ${d.profiles} profiles off their ` +
        `recount (private.profile_drift over every profile, ${f(d.seconds, 1)} s).`,
    );
  }
  return lines.join("\n");
}
