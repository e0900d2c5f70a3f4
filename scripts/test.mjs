// `npm test`: everything, against embedded PostgreSQL (or SUPABASE_DB_URL's
// server), on a fresh database migrated with the Supabase CLI: generated
// types fresh, supabase db lint, deno fmt/lint/check, then the Deno suite
// (unit, SQL, end-to-end over HTTP, hardening slices). Ends with
// "tests: N passed, N failed".
import path from "node:path";
import { localKeys } from "./lib/keys.mjs";
import { BIN } from "./lib/migrate.mjs";
import { runSql } from "./lib/postgres.mjs";
import { run, withFreshDatabase } from "./lib/testdb.mjs";
import { typesAreFresh } from "./lib/types.mjs";

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
const args = process.argv.slice(2);
const deno = path.join(BIN, "deno");
let failures = 0;
let passed = 0;
let failed = 0;

async function step(label, command, commandArgs, env) {
  const result = await run(label, command, commandArgs, env);
  if (result.code !== 0) failures++;
  return result;
}

/**
 * `supabase db lint` (plpgsql_check) over our schemas, where the server has
 * the extension available; REQUIRE_DB_LINT=1 makes its absence a failure.
 */
async function lintDatabase(url) {
  const { rows } = await runSql(
    url,
    "select 1 from pg_available_extensions where name = 'plpgsql_check'",
  );
  if (rows.length === 0) {
    process.stdout.write("\n== supabase db lint\n");
    if (process.env.REQUIRE_DB_LINT === "1") {
      failures++;
      console.log("FAILED: plpgsql_check is not available on this server");
    } else {
      console.log("skipped: plpgsql_check is not available on this server");
    }
    return;
  }
  await step("supabase db lint", path.join(BIN, "supabase"), [
    ...["db", "lint", "--db-url", url, "--schema", "public,private"],
    ...["--level", "warning", "--fail-on", "warning"],
  ], { PGSSLMODE: "disable" });
}

try {
  await withFreshDatabase("customers_test", async ({ url }) => {
    if (!args.includes("--only-tests")) {
      process.stdout.write("\n== generated database types\n");
      if (typesAreFresh(url)) {
        console.log("supabase/functions/_shared/database.types.ts is up to date");
      } else {
        failures++;
        console.log("STALE: supabase/functions/_shared/database.types.ts; run `npm run gen:types`");
      }
      await lintDatabase(url);
      await step("deno fmt --check", deno, ["fmt", "--check"]);
      await step("deno lint", deno, ["lint"]);
      await step("deno check", deno, [
        "check",
        "supabase/functions",
        "scripts/serve.ts",
        "tests",
        "bench",
      ]);
    }
    const filter = args.filter((a) => !a.startsWith("--"));
    const result = await step("deno test", deno, ["test", "-A", "--no-prompt", ...filter], {
      TEST_DB_URL: url,
      SUPABASE_JWT_SECRET: localKeys().jwtSecret,
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
  });
} catch (error) {
  failures++;
  console.error(error);
}

console.log(`\ntests: ${passed} passed, ${failed} failed`);
process.exit(failures === 0 && failed === 0 ? 0 : 1);
