// `npm run gen:types`: regenerate supabase/functions/_shared/database.types.ts
// from the migrations, on a scratch database.
import { freshDatabase } from "./lib/database.ts";
import { main } from "./lib/main.ts";
import { ensurePostgres } from "./lib/postgres.ts";
import { generateTypes, TYPES_FILE } from "./lib/types.ts";

await main(async () => {
  const cluster = await ensurePostgres({
    name: "test-postgres",
    port: Number(Deno.env.get("TEST_DB_PORT") ?? 54332),
    portVariable: "TEST_DB_PORT",
    command: "npm run gen:types",
  });
  try {
    const db = await freshDatabase(cluster.url, `customers_types_${Deno.pid}`, { seed: false });
    try {
      Deno.writeTextFileSync(TYPES_FILE, generateTypes(db.url));
      console.log(`wrote ${TYPES_FILE}`);
    } finally {
      await db.drop().catch(() => {});
    }
  } finally {
    await cluster.stop();
  }
});
