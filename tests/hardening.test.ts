// The fast slice of the hardening suites (the long versions: `npm run soak`).
// Each attacks the real server over HTTP with a fixed seed and prints its
// summary; any failure fails the test.
import { assertEquals } from "./assert.ts";
import { accessKeys, runAccess } from "./hardening/access.ts";
import { runChaos } from "./hardening/chaos.ts";
import { printSummary, type Summary } from "./hardening/common.ts";
import { runFaults } from "./hardening/faults.ts";
import { runHostile } from "./hardening/hostile.ts";
import { runLoad } from "./hardening/load.ts";
import { checkLogs, contactsIn } from "./hardening/privacy.ts";
import {
  adminSql,
  closeAdmin,
  PUBLISHABLE_KEY,
  SECRET_KEY,
  signToken,
  startServer,
  test,
} from "./helpers.ts";

const sql = adminSql();
const keys = await accessKeys();
const server = await startServer({ SUPABASE_JWKS: keys.jwks });
const token = await signToken({ role: "service_role" });

function check(summary: Summary, minimum: number) {
  printSummary(summary);
  assertEquals(summary.failures, []);
  if (summary.count < minimum) throw new Error(`${summary.suite}: only ${summary.count} tried`);
}

test("hardening slice: delivery chaos, 1,000+ deliveries from 8 clients", async () => {
  check(
    await runChaos({ base: server.url, sql, token, events: 1000, clients: 8, seed: 20261126 }),
    1000,
  );
});

test("hardening slice: hostile input, 3,000 generated bodies", async () => {
  check(await runHostile({ base: server.url, sql, token, count: 3000, seed: 424242 }), 3000);
});

test("hardening slice: access matrix", async () => {
  check(
    await runAccess({
      base: server.url,
      sql,
      sign: signToken,
      secretKey: SECRET_KEY,
      publishableKey: PUBLISHABLE_KEY,
      rsaPublicJwk: keys.jwk,
    }),
    50,
  );
});

test("hardening slice: load, 8 s at concurrency 64 after 6 s of warm-up", async () => {
  check(
    await runLoad({
      base: server.url,
      sql,
      token,
      pid: server.pid,
      seconds: 8,
      concurrency: 64,
      window: 2,
      warmup: 6,
    }),
    500,
  );
});

test("hardening slice: database faults", async () => {
  check(await runFaults({ token, clients: 4, downSeconds: 2 }), 10);
});

test("hardening slice: privacy of the logs of everything above", async () => {
  check(checkLogs(server.logs, await contactsIn(sql)), 100);
});

test("teardown: stop server and pool", async () => {
  await server.stop();
  await closeAdmin();
});
