// `npm run gen:types`: regenerate supabase/functions/_shared/database.types.ts
// from the migrations, on a scratch database.
import { writeFileSync } from "node:fs";
import { prepareDatabase } from "./lib/migrate.mjs";
import { ensurePostgres, runSql, withDatabase } from "./lib/postgres.mjs";
import { generateTypes, TYPES_FILE } from "./lib/types.mjs";

const cluster = await ensurePostgres({
  name: "test-postgres",
  port: Number(process.env.TEST_DB_PORT ?? 54332),
});
const database = `customers_types_${process.pid}`;
try {
  await runSql(cluster.url, `create database ${database}`);
  const url = withDatabase(cluster.url, database);
  await prepareDatabase(url, { withSeed: false });
  writeFileSync(TYPES_FILE, generateTypes(url));
  console.log(`wrote ${TYPES_FILE}`);
} finally {
  await runSql(cluster.url, `drop database if exists ${database} with (force)`).catch(() => {});
  await cluster.stop();
}
