// `npm run soak`: the long hardening suites (tests/hardening/soak.ts) on a
// fresh database. Prints one summary per suite; exits non-zero on failure.
import path from "node:path";
import { localKeys } from "./lib/keys.mjs";
import { BIN } from "./lib/migrate.mjs";
import { run, withFreshDatabase } from "./lib/testdb.mjs";

const code = await withFreshDatabase("customers_soak", async ({ url }) => {
  const result = await run(
    "soak",
    path.join(BIN, "deno"),
    ["run", "-A", "tests/hardening/soak.ts"],
    {
      TEST_DB_URL: url,
      SUPABASE_JWT_SECRET: localKeys().jwtSecret,
    },
  );
  return result.code;
});
process.exit(code);
