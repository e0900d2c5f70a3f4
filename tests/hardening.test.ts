// The fast slice of the hardening suites (the long versions: `npm run soak`).
// Each attacks the real server over HTTP with a fixed seed and prints its
// summary; any failure fails its step. One test with steps, in order, since
// the last step checks the logs of all the others.
import { assertEquals } from "./assert.ts";
import { accessKeys, runAccess } from "./hardening/access.ts";
import { runChaos } from "./hardening/chaos.ts";
import { runLifecycleChaos } from "./hardening/lifecycle_chaos.ts";
import { runMergeChaos } from "./hardening/merge_chaos.ts";
import { printSummary, type Summary } from "./hardening/common.ts";
import { runFaults } from "./hardening/faults.ts";
import { runHostile } from "./hardening/hostile.ts";
import { runLoad } from "./hardening/load.ts";
import { checkLogs, contactsIn } from "./hardening/privacy.ts";
import {
  PUBLISHABLE_KEY,
  SECRET_KEY,
  type Server,
  signToken,
  startServer,
  withAdminSql,
} from "./helpers.ts";

const keys = await accessKeys();
const token = await signToken({ role: "service_role" });
let server: Server;
Deno.test.beforeAll(async () => {
  server = await startServer({ SUPABASE_JWKS: keys.jwks }, { inspect: true });
});
Deno.test.afterAll(async () => {
  await server?.stop();
});

function check(summary: Summary, minimum: number) {
  printSummary(summary);
  assertEquals(summary.failures, []);
  if (summary.count < minimum) throw new Error(`${summary.suite}: only ${summary.count} tried`);
}

Deno.test("hardening slice: chaos, merge chaos, hostile input, access, load, faults, then the logs of all", async (t) => {
  await t.step(
    "delivery chaos, 1,000+ deliveries from 8 clients",
    () =>
      withAdminSql(async (sql) => {
        check(
          await runChaos({
            base: server.url,
            sql,
            token,
            events: 1000,
            clients: 8,
            seed: 20261126,
          }),
          1000,
        );
      }),
  );

  await t.step(
    "lifecycle chaos, 1,000+ snapshot deliveries from 8 clients",
    () =>
      withAdminSql(async (sql) => {
        check(
          await runLifecycleChaos({
            base: server.url,
            sql,
            token,
            deliveries: 1000,
            clients: 8,
            seed: 20261127,
          }),
          1000,
        );
      }),
  );

  await t.step(
    "merge chaos, 1,000+ operations (bookings, changes, merges, unmerges) from 8 clients",
    () =>
      withAdminSql(async (sql) => {
        check(
          await runMergeChaos({
            base: server.url,
            sql,
            token,
            operations: 1000,
            clients: 8,
            seed: 20261128,
          }),
          1000,
        );
      }),
  );

  await t.step("hostile input, 3,000 generated bodies", () =>
    withAdminSql(async (sql) => {
      check(await runHostile({ base: server.url, sql, token, count: 3000, seed: 424242 }), 3000);
    }));

  await t.step("access matrix", () =>
    withAdminSql(async (sql) => {
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
    }));

  await t.step(
    "load, 8 s at concurrency 64 after 6 s of warm-up",
    () =>
      withAdminSql(async (sql) => {
        check(
          await runLoad({
            base: server.url,
            sql,
            token,
            pid: server.pid,
            heapAfterGc: server.heapAfterGc,
            seconds: 8,
            concurrency: 64,
            window: 2,
            warmup: 6,
          }),
          500,
        );
      }),
  );

  await t.step("database faults", async () => {
    check(await runFaults({ token, clients: 4, downSeconds: 2 }), 10);
  });

  await t.step("privacy of the logs of everything above", () =>
    withAdminSql(async (sql) => {
      check(checkLogs(server.logs, await contactsIn(sql)), 100);
    }));
});
