// `npm test`: everything, against embedded PostgreSQL (or SUPABASE_DB_URL's
// server), on a fresh database migrated with the Supabase CLI: generated
// types fresh, supabase db lint, deno fmt/lint/check, then the Deno suite
// (unit, SQL, end-to-end over HTTP, hardening slices). Ends with
// "tests: N passed, N failed".
// When pgbouncer is installed, the end-to-end files and the SQL concurrency
// file run a second time with the functions' connections going through
// PgBouncer in transaction mode (hosted Supabase's Supavisor stand-in); a
// missing pgbouncer is a printed note, or a failure with REQUIRE_POOLER=1.
//   npm test -- [--only-tests] [filter]
import { runSql, supabaseCli } from "./lib/database.ts";
import { LOCAL_JWT_SECRET } from "./lib/jwt.ts";
import { main, UserError } from "./lib/main.ts";
import { findPgBouncer, poolerRequired, startPgBouncer } from "./lib/pgbouncer.ts";
import { DENO } from "./lib/paths.ts";
import { runStep } from "./lib/run.ts";
import { testCluster, withFreshDatabase } from "./lib/testdb.ts";
import { typesAreFresh } from "./lib/types.ts";

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
const args = Deno.args;
let failures = 0;
let passed = 0;
let failed = 0;

async function step(label: string, command: string, commandArgs: string[], env = {}) {
  const result = await runStep(label, command, commandArgs, env);
  if (result.code !== 0) failures++;
  return result;
}

/**
 * `supabase db lint` (plpgsql_check) over our schemas, where the server has
 * the extension available; REQUIRE_DB_LINT=1 makes its absence a failure.
 */
async function lintDatabase(url: string) {
  const { rows } = await runSql(
    url,
    "select 1 from pg_available_extensions where name = 'plpgsql_check'",
  );
  console.log("\n== supabase db lint");
  if (rows.length === 0) {
    if (Deno.env.get("REQUIRE_DB_LINT") === "1") {
      failures++;
      console.log("FAILED: plpgsql_check is not available on this server");
    } else {
      console.log("skipped: plpgsql_check is not available on this server");
    }
    return;
  }
  const lint = supabaseCli(
    ["db", "lint", "--schema", "public,private", "--level", "warning", "--fail-on", "warning"],
    url,
  );
  console.log(lint.stdout + lint.stderr);
  if (lint.status !== 0) failures++;
}

/** Add a `deno test` run's summary to the totals. */
function count(result: { code: number; out: string }) {
  const summary = /(\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/.exec(
    result.out.replace(ANSI, ""),
  );
  if (summary) {
    passed += Number(summary[1]);
    failed += Number(summary[2]);
  } else if (result.code !== 0) {
    failed += 1;
  }
}

/** The files of the pooler pass: end-to-end over HTTP, and the SQL concurrency suites. */
function poolerFiles(filter: string[]): string[] {
  const files = [...Deno.readDirSync("tests")]
    .map((e) => `tests/${e.name}`)
    .filter((f) => /^tests\/(e2e_.*|sql_(merge_)?concurrency)\.test\.ts$/.test(f))
    .sort();
  if (filter.length === 0) return files;
  return files.filter((f) => filter.some((x) => f.includes(x.replace(/^\.\//, ""))));
}

/**
 * The end-to-end and concurrency slices again, the product's connections
 * through PgBouncer (transaction mode) in front of the same database.
 */
async function poolerPass(url: string, filter: string[], env: Record<string, string>) {
  const files = poolerFiles(filter);
  if (files.length === 0) return;
  if (!findPgBouncer()) {
    console.log("\n== deno test through PgBouncer (transaction mode)");
    if (poolerRequired()) {
      failures++;
      console.log("FAILED: pgbouncer is required (REQUIRE_POOLER=1) but not installed");
    } else {
      console.log(
        "skipped: pgbouncer is not installed (apt-get install pgbouncer); " +
          "the end-to-end and concurrency slices ran directly only",
      );
    }
    return;
  }
  const pooler = await startPgBouncer({ target: url, poolSize: 20, maxClientConn: 400 });
  try {
    count(
      await step(
        `deno test through PgBouncer (transaction mode, ${pooler.url})`,
        DENO,
        ["test", "-A", "--no-prompt", ...files],
        { ...env, TEST_POOLER_URL: pooler.url },
      ),
    );
  } finally {
    await pooler.stop();
  }
}

await main(async () => {
  try {
    await withFreshDatabase(
      { cluster: testCluster("npm test"), prefix: "customers_test" },
      async ({ url }) => {
        if (!args.includes("--only-tests")) {
          console.log("\n== generated database types");
          if (typesAreFresh(url)) {
            console.log("supabase/functions/_shared/database.types.ts is up to date");
          } else {
            failures++;
            console.log(
              "STALE: supabase/functions/_shared/database.types.ts; run `npm run gen:types`",
            );
          }
          await lintDatabase(url);
          await step("deno fmt --check", DENO, ["fmt", "--check"]);
          await step("deno lint", DENO, ["lint"]);
          // Everything: the functions, the tooling, the tests, the bench, the example.
          await step("deno check", DENO, [
            "check",
            ...["supabase/functions", "scripts", "tests", "bench", "examples"],
          ]);
        }
        const filter = args.filter((a) => !a.startsWith("--"));
        const env = { TEST_DB_URL: url, SUPABASE_JWT_SECRET: LOCAL_JWT_SECRET };
        count(await step("deno test", DENO, ["test", "-A", "--no-prompt", ...filter], env));
        await poolerPass(url, filter, env);
      },
    );
  } catch (error) {
    failures++;
    console.error(error instanceof UserError ? error.message : error);
  }
  console.log(`\ntests: ${passed} passed, ${failed} failed`);
  return failures === 0 && failed === 0 ? 0 : 1;
});
