// `npm run bench:scale`: cost against data size (bench/scale.ts) on a fresh
// migrated database of the bench's cluster (embedded PostgreSQL on
// BENCH_DB_PORT, or SUPABASE_DB_URL's server), dropped afterwards.
//   BENCH_SCALE_MAX_GUESTS=100000 npm run bench:scale   (a quicker run: 10⁴ and 10⁵)
import { main } from "./lib/main.ts";
import { DENO } from "./lib/paths.ts";
import { runStep } from "./lib/run.ts";
import { withFreshDatabase } from "./lib/testdb.ts";

const cluster = {
  name: "bench-postgres",
  port: Number(Deno.env.get("BENCH_DB_PORT") ?? 54342),
  portVariable: "BENCH_DB_PORT",
  command: "npm run bench:scale",
};

await main(() =>
  withFreshDatabase({ cluster, prefix: "bench_scale", seed: false }, async (db) => {
    const result = await runStep("bench:scale", DENO, ["run", "-A", "bench/scale.ts"], {
      BENCH_SCALE_URL: db.url,
    });
    return result.code;
  })
);
