// The fast slice of the hardening suites (the long versions: `npm run soak`).
// Each attacks the real server over HTTP with a fixed seed and prints its
// summary; any failure fails the test.
import { assertEquals } from "./assert.ts";
import { runChaos } from "./hardening/chaos.ts";
import { printSummary, type Summary } from "./hardening/common.ts";
import { adminSql, closeAdmin, signToken, startServer, test } from "./helpers.ts";

const sql = adminSql();
const server = await startServer();
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

test("teardown: stop server and pool", async () => {
  await server.stop();
  await closeAdmin();
});
