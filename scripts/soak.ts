// `npm run soak`: the long hardening suites (tests/hardening/soak.ts) on a
// fresh database. Prints one summary per suite; exits non-zero on failure.
import { LOCAL_JWT_SECRET } from "./lib/jwt.ts";
import { main } from "./lib/main.ts";
import { DENO } from "./lib/paths.ts";
import { runStep } from "./lib/run.ts";
import { testCluster, withFreshDatabase } from "./lib/testdb.ts";

await main(() =>
  withFreshDatabase(
    { cluster: testCluster("npm run soak"), prefix: "customers_soak" },
    async ({ url }) => {
      const result = await runStep("soak", DENO, ["run", "-A", "tests/hardening/soak.ts"], {
        TEST_DB_URL: url,
        SUPABASE_JWT_SECRET: LOCAL_JWT_SECRET,
      });
      return result.code;
    },
  )
);
