// The seed design's upsert behind the same HTTP pipeline as the real
// functions (auth, body limits, validation, logging), for the benchmark.
import postgres from "postgres";
import { endpoint } from "../supabase/functions/_shared/endpoint.ts";
import { parseOrThrow, upsertRequestSchema } from "../supabase/functions/_shared/schemas.ts";
import { seedDesignUpsert } from "./seed_design.ts";

const region = Deno.env.get("BENCH_REGION") ?? "GB";
// The seed design's own driver and pool: its sequence of statements is what is measured.
const sql = postgres(Deno.env.get("SUPABASE_DB_URL")!, {
  prepare: false,
  max: Number(Deno.env.get("DB_POOL_MAX") ?? "8"),
  onnotice: () => {},
});

Deno.serve(
  { onListen: () => {} },
  endpoint(
    "seed-design",
    async (body, { caller }) =>
      await seedDesignUpsert(sql, caller.claims, parseOrThrow(upsertRequestSchema, body), region),
  ),
);
