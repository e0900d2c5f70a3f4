// The seed design's upsert behind the same HTTP pipeline as the real
// functions (auth, body limits, validation, logging), for the benchmark.
import { endpoint } from "../supabase/functions/_shared/endpoint.ts";
import { parseOrThrow, upsertRequestSchema } from "../supabase/functions/_shared/schemas.ts";
import { seedDesignUpsert } from "./seed_design.ts";

const region = Deno.env.get("BENCH_REGION") ?? "GB";

Deno.serve(
  { onListen: () => {} },
  endpoint(
    "seed-design",
    async (body, { caller, sql }) =>
      await seedDesignUpsert(sql, caller.claims, parseOrThrow(upsertRequestSchema, body), region),
  ),
);
