// The long versions of the hardening suites, on one server whose logs are
// captured throughout and checked at the end. Sizes can be scaled down with
// SOAK_SCALE (1 = the full run: 100,000 chaos deliveries, 12,000 merge chaos
// operations, 10,000 hostile
// bodies, 60 s of load). Exits 1 when any suite failed.
import { accessKeys, runAccess } from "./access.ts";
import { runChaos } from "./chaos.ts";
import { runLifecycleChaos } from "./lifecycle_chaos.ts";
import { runMergeChaos } from "./merge_chaos.ts";
import { printSummary, type Summary } from "./common.ts";
import { runFaults } from "./faults.ts";
import { runHostile } from "./hostile.ts";
import { runLoad } from "./load.ts";
import { checkLogs, contactsIn } from "./privacy.ts";
import { adminSql, PUBLISHABLE_KEY, SECRET_KEY, signToken, startServer } from "../helpers.ts";

const scale = Number(Deno.env.get("SOAK_SCALE") ?? "1");
const sql = adminSql();
const keys = await accessKeys();
const server = await startServer({ SUPABASE_JWKS: keys.jwks }, { inspect: true });
const token = await signToken({ role: "service_role" }, { expiresIn: "6h" });
const summaries: Summary[] = [];
const started = performance.now();

// SOAK_SUITES picks suites by name (comma-separated, e.g. "merge chaos,privacy"); all by default.
const only = (Deno.env.get("SOAK_SUITES") ?? "").split(",").map((s) => s.trim()).filter(Boolean);

async function suite(name: string, run: () => Promise<Summary>) {
  if (only.length > 0 && !only.includes(name)) return;
  const t0 = performance.now();
  console.log(`… ${name}`);
  const summary = await run();
  printSummary(summary);
  console.log(`  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  summaries.push(summary);
}

await suite(
  "delivery chaos",
  () =>
    runChaos({
      base: server.url,
      sql,
      token,
      events: Math.round(100_000 * scale),
      clients: 8,
      seed: 7,
    }),
);
await suite(
  "lifecycle chaos",
  () =>
    runLifecycleChaos({
      base: server.url,
      sql,
      token,
      deliveries: Math.round(100_000 * scale),
      clients: 8,
      seed: 13,
    }),
);
await suite(
  "merge chaos",
  () =>
    runMergeChaos({
      base: server.url,
      sql,
      token,
      operations: Math.round(12_000 * scale),
      clients: 8,
      seed: 17,
    }),
);
await suite(
  "hostile input",
  () => runHostile({ base: server.url, sql, token, count: Math.round(10_000 * scale), seed: 11 }),
);
await suite("access", () =>
  runAccess({
    base: server.url,
    sql,
    sign: signToken,
    secretKey: SECRET_KEY,
    publishableKey: PUBLISHABLE_KEY,
    rsaPublicJwk: keys.jwk,
  }));
await suite("load", () =>
  runLoad({
    base: server.url,
    sql,
    token,
    pid: server.pid,
    heapAfterGc: server.heapAfterGc,
    seconds: Math.max(10, Math.round(60 * scale)),
    concurrency: 64,
    window: Math.max(2, Math.round(10 * scale)),
    warmup: 5,
  }));
await suite("database faults", () => runFaults({ token, clients: 8, downSeconds: 3 }));
await server.stop();
// The log lines of 5xx answers (codes and kinds only, never values), to see why.
for (const line of server.logs.filter((l) => /"status":5\d\d/.test(l)).slice(0, 20)) {
  console.log(`  5xx: ${line}`);
}
await suite("privacy", async () => checkLogs(server.logs, await contactsIn(sql)));
await sql.end({ timeout: 1 });

const failed = summaries.filter((s) => s.failures.length > 0);
console.log(
  `\nsoak: ${summaries.length - failed.length} passed, ${failed.length} failed ` +
    `(${((performance.now() - started) / 1000).toFixed(0)} s)`,
);
Deno.exit(failed.length ? 1 : 0);
