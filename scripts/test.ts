// `npm test`: everything, against embedded PostgreSQL (or SUPABASE_DB_URL's
// server), on a fresh database migrated with the Supabase CLI: generated
// types fresh, supabase db lint, deno fmt/lint/check, then the Deno suite
// (unit, SQL, end-to-end over HTTP, hardening slices). Ends with
// "tests: N passed, N failed".
//   npm test -- [--only-tests] [filter]
import { runSql, supabaseCli } from "./lib/database.ts";
import { LOCAL_JWT_SECRET } from "./lib/jwt.ts";
import { main, UserError } from "./lib/main.ts";
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
        const result = await step("deno test", DENO, ["test", "-A", "--no-prompt", ...filter], {
          TEST_DB_URL: url,
          SUPABASE_JWT_SECRET: LOCAL_JWT_SECRET,
        });
        const summary = /(\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/.exec(
          result.out.replace(ANSI, ""),
        );
        if (summary) {
          passed = Number(summary[1]);
          failed = Number(summary[2]);
        } else if (result.code !== 0) {
          failed = 1;
        }
      },
    );
  } catch (error) {
    failures++;
    console.error(error instanceof UserError ? error.message : error);
  }
  console.log(`\ntests: ${passed} passed, ${failed} failed`);
  return failures === 0 && failed === 0 ? 0 : 1;
});
