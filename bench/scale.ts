// `npm run bench:scale`: cost against data size. A fresh migrated database is
// filled by generated SQL (bench/scale_fill.ts) to 10⁴ guests, then grown to
// 10⁵ and 10⁶ (BENCH_SCALE_MAX_GUESTS caps it), ~10 bookings per guest. At
// each size every operation of bench/scale_ops.ts is measured through the
// real functions server over HTTP at c=16 (p50, p99, req/s), each
// operation's plans are collected (auto_explain, bench/plans.ts), and table
// and index sizes are read. After the last size the drift check runs.
// Writes bench/results/scale.{json,md} and bench/scale.svg; nothing here
// fails on speed.
import { createDb } from "../supabase/functions/_shared/db.ts";
import type { Claims } from "../supabase/functions/_shared/auth.ts";
import { drive, summarize, type Summary } from "./measure.ts";
import { connect } from "./pg.ts";
import { explainCalls, type PlannedCall, type PlanReport } from "./plans.ts";
import { signHs256, spawnServer } from "./process.ts";
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

/** The erasure's clearing of the host's rows, before and after 20261126150000_scale.sql. */
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
/** As 20261126150000_scale.sql writes it: the guest's rows by id. */
const CLEAR_AFTER = `update public.bookings h ${CLEAR_SET}
  where h.restaurant_id = $1
    and h.id in (
      select x.id from public.bookings x where x.restaurant_id = $1 and x.customer_id = $2
      union
      select b.booking_id from public.customer_bookings b where b.customer_id = $2)
    ${CLEAR_KEEP}`;

/** Both forms of the statement on the same guests, each in a transaction rolled back. */
async function clearing(guests: number, bodies: Record<string, unknown>[]): Promise<ClearingRow> {
  const times = { before: [] as number[], after: [] as number[] };
  const scans = { before: new Set<string>(), after: new Set<string>() };
  const collect = (node: Record<string, unknown>, into: Set<string>) => {
    const type = node["Node Type"] as string;
    if (/Scan/.test(type)) into.add(`${type} on ${node["Relation Name"] ?? node["Index Name"]}`);
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
  clearing: ClearingRow | null;
  bookings: number;
  fill: FillTimes;
  sizes: SizeRow[];
  plans: PlanReport[];
  ops: OpRow[];
}

const c = await connect(url);
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
for (const op of SCALE_OPS) {
  if (await functionExists(c, op.requires)) ops.push(op);
  else skipped.push(`${op.name}: private.${op.requires} does not exist in this database`);
}
for (const note of skipped) console.log(`skipped ${note}`);

const token = await signHs256({ role: "service_role", iss: "supabase", exp: 4102444800 }, SECRET);
const results: SizeResult[] = [];
let drift: { profiles: number; seconds: number } | null = null;
const fillStarted = performance.now();
try {
  await fillRestaurants(c);
  const restaurants = await fillRestaurantIds(c);
  let filled = 0;
  for (const guests of SIZES) {
    console.log(`\n== fill ${filled} → ${guests} guests`);
    const fill = await fillGuests(c, filled, guests);
    filled = guests;
    console.log(
      `   ${fill.total.toFixed(1)} s (customers ${fill.customers.toFixed(1)}, consent ${
        fill.consent.toFixed(1)
      }, bookings+profiles+host rows ${fill.bookings.toFixed(1)}, indexes ${
        fill.indexes.toFixed(1)
      }, vacuum analyze ${fill.vacuum.toFixed(1)})`,
    );
    const sizes = await tableSizes(c);
    const bookings = sizes.find((s) => s.table === "customer_bookings")?.rows ?? 0;

    // Plans first, on requests of their own (they run through the product's code).
    const planned: PlannedCall[] = [];
    for (const [k, op] of ops.entries()) {
      const [body] = await op.draw(c, {
        guests,
        n: 20,
        seed: 9000 + k + guests,
        restaurants,
        tag: `plan${guests}`,
      });
      if (body) planned.push({ op: op.name, run: (db, claims) => op.call(db, claims, body) });
    }
    const plans = await explainCalls(url, planned);
    const erase = ops.find((op) => op.endpoint === "customer-erase");
    const clearingRow = erase
      ? await clearing(
        guests,
        await erase.draw(c, { guests, n: 60, seed: 4242 + guests, restaurants, tag: "clear" }),
      )
      : null;
    if (clearingRow) {
      console.log(
        `   host-row clearing: before ${clearingRow.before.p50.toFixed(3)} ms, after ${
          clearingRow.after.p50.toFixed(3)
        } ms (median of ${clearingRow.calls})`,
      );
    }
    for (const p of plans) {
      console.log(
        `   plan ${p.op}: ${
          p.seqScans.length ? `SEQ SCAN ${p.seqScans.join(", ")}` : "no seq scan"
        }${p.error ? ` (error: ${p.error})` : ""}`,
      );
    }

    const server = await spawnServer([`${root}scripts/serve.ts`], {
      SUPABASE_DB_URL: url,
      SUPABASE_JWT_SECRET: SECRET,
      SUPABASE_URL: "http://127.0.0.1:9",
      DB_POOL_MAX: String(POOL),
    });
    const opRows: OpRow[] = [];
    try {
      for (const [k, op] of ops.entries()) {
        const n = Math.max(CONCURRENCY * 4, Math.round(REQUESTS * op.share));
        const post = async (body: Record<string, unknown>) => {
          const response = await fetch(`${server.url}/functions/v1/${op.endpoint}`, {
            method: "POST",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body: JSON.stringify(body),
          });
          await response.arrayBuffer();
          return response.status === 200;
        };
        const bodies = await op.draw(c, {
          guests,
          n: WARMUP + REPEAT * n + SQL_CALLS,
          seed: 1000 * (k + 1) + guests,
          restaurants,
          tag: `${guests}x${k}`,
        });
        await drive(`${op.name} warm-up`, bodies.slice(0, WARMUP), CONCURRENCY, post, true);
        const timed: { requests: number; errors: number; summary: Summary }[] = [];
        const per = Math.floor((bodies.length - WARMUP - SQL_CALLS) / REPEAT);
        for (let r = 0; r < REPEAT; r++) {
          const slice = bodies.slice(WARMUP + r * per, WARMUP + (r + 1) * per);
          const run = await drive(`${op.name} @ ${guests} guests`, slice, CONCURRENCY, post);
          timed.push({ requests: slice.length, errors: run.errors, summary: summarize(run) });
        }
        const middle = [...timed].sort((a, b) => a.summary.p50 - b.summary.p50)[
          Math.floor(timed.length / 2)
        ];
        const direct = createDb(url, { max: 1 });
        let sql: { p50: number; p99: number };
        try {
          const service = { role: "service_role" } as Claims;
          const run = await drive(
            `${op.name} SQL-only`,
            bodies.slice(WARMUP + REPEAT * per),
            1,
            async (body) => (await op.call(direct, service, body), true),
            true,
          );
          const summary = summarize(run);
          sql = { p50: summary.p50, p99: summary.p99 };
        } finally {
          await direct.end();
        }
        opRows.push({
          op: op.name,
          guests,
          requests: middle.requests,
          errors: timed.reduce((e, t) => e + t.errors, 0),
          summary: middle.summary,
          runs: timed.map((t) => t.summary.p50),
          sql,
        });
        const m = middle.summary;
        console.log(
          `   ${op.name}: ${REPEAT} × ${middle.requests} req, ${
            opRows[opRows.length - 1].errors
          } errors; median run ${m.rps.toFixed(0)} req/s, p50 ${m.p50.toFixed(2)} ms, p99 ${
            m.p99.toFixed(2)
          } ms; SQL-only c=1 p50 ${sql.p50.toFixed(2)} ms`,
        );
      }
    } finally {
      await server.stop();
    }
    results.push({
      guests,
      clearing: clearingRow,
      bookings,
      fill,
      sizes: await tableSizes(c),
      plans,
      ops: opRows,
    });
  }
  const t0 = performance.now();
  const { rows: [{ n }] } = await c.query<{ n: number }>(
    "select count(*)::int as n from private.profile_drift(null)",
  );
  drift = { profiles: n, seconds: (performance.now() - t0) / 1000 };
  console.log(`\ndrift check: ${n} profiles off their recount (${drift.seconds.toFixed(1)} s)`);
} finally {
  await c.end();
}

const fillSeconds = results.reduce((s, r) => s + r.fill.total, 0);
const report = renderScaleReport();
console.log("\n" + report);
await Deno.mkdir(`${root}bench/results`, { recursive: true });
await Deno.writeTextFile(
  `${root}bench/results/scale.json`,
  JSON.stringify(
    { version, machine, settings, skipped, results, drift, fillSeconds, wall: fillStarted },
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
    "| guests | bookings | fill step s | customers | consent | bookings, profiles, host rows | indexes | vacuum analyze |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|",
  );
  for (const r of results) {
    const t = r.fill;
    lines.push(
      `| ${int(r.guests)} | ${int(r.bookings)} | ${f(t.total, 1)} | ${f(t.customers, 1)} | ${
        f(t.consent, 1)
      } | ${f(t.bookings, 1)} | ${f(t.indexes, 1)} | ${f(t.vacuum, 1)} |`,
    );
  }
  lines.push("", `Fill time in all: ${f(fillSeconds, 1)} s.`, "");
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
        "20261126150000_scale.sql changed, both forms on the same guests (EXPLAIN ANALYZE, " +
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
  if (drift) {
    lines.push(
      "",
      `Drift check after the run: ${drift.profiles} profiles off their recount ` +
        `(private.profile_drift over every profile, ${f(drift.seconds, 1)} s).`,
    );
  }
  return lines.join("\n");
}
