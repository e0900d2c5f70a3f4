// `npm test`: everything, against embedded PostgreSQL (or SUPABASE_DB_URL).
// A fresh database is created for the run, migrated with the Supabase CLI,
// and dropped afterwards. Then: generated types fresh, deno fmt/lint/check,
// and the Deno test suite (unit, SQL, end-to-end over HTTP).
import { spawn } from "node:child_process";
import path from "node:path";
import { localKeys } from "./lib/keys.mjs";
import { BIN, prepareDatabase } from "./lib/migrate.mjs";
import { ensurePostgres, ROOT, runSql, withDatabase } from "./lib/postgres.mjs";
import { typesAreFresh } from "./lib/types.mjs";

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
const args = process.argv.slice(2);

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
  await run("supabase db lint", path.join(BIN, "supabase"), [
    "db",
    "lint",
    "--db-url",
    url,
    "--schema",
    "public,private",
    "--level",
    "warning",
    "--fail-on",
    "warning",
  ], { PGSSLMODE: "disable" });
}
const deno = path.join(BIN, "deno");
let failures = 0;
let passed = 0;
let failed = 0;

function run(label, command, commandArgs, env = {}) {
  return new Promise((resolve) => {
    process.stdout.write(`\n== ${label}\n`);
    const child = spawn(command, commandArgs, {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      process.stdout.write(chunk);
    });
    child.on("exit", (code) => {
      if (code !== 0) failures++;
      resolve({ code, out });
    });
  });
}

const cluster = await ensurePostgres({
  name: "test-postgres",
  port: Number(process.env.TEST_DB_PORT ?? 54332),
});
const database = `customers_test_${process.pid}`;
const url = withDatabase(cluster.url, database);
const [{ version }] =
  (await runSql(cluster.url, "select current_setting('server_version') as version"))
    .rows;
await runSql(cluster.url, `drop database if exists ${database}`);
await runSql(cluster.url, `create database ${database}`);
console.log(
  `PostgreSQL ${version} (${
    cluster.embedded ? "embedded" : "SUPABASE_DB_URL"
  }), database ${database}`,
);

try {
  await prepareDatabase(url);
  console.log("migrations applied with supabase db push");

  if (!args.includes("--only-tests")) {
    process.stdout.write("\n== generated database types\n");
    if (typesAreFresh(url)) {
      console.log("supabase/functions/_shared/database.types.ts is up to date");
    } else {
      failures++;
      console.log("STALE: supabase/functions/_shared/database.types.ts; run `npm run gen:types`");
    }
    await lintDatabase(url);
    await run("deno fmt --check", deno, ["fmt", "--check"]);
    await run("deno lint", deno, ["lint"]);
    await run("deno check", deno, [
      "check",
      "supabase/functions",
      "scripts/serve.ts",
      "tests",
      "bench",
    ]);
  }

  const keys = localKeys();
  const filter = args.filter((a) => !a.startsWith("--"));
  const result = await run("deno test", deno, ["test", "-A", "--no-prompt", ...filter], {
    TEST_DB_URL: url,
    SUPABASE_JWT_SECRET: keys.jwtSecret,
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
} catch (error) {
  failures++;
  console.error(error);
} finally {
  await runSql(cluster.url, `drop database if exists ${database} with (force)`).catch(() => {});
  await cluster.stop();
}

console.log(`\ntests: ${passed} passed, ${failed} failed`);
process.exit(failures === 0 && failed === 0 ? 0 : 1);
