// `npm run gen:types`: regenerate supabase/functions/_shared/database.types.ts
// from the migrations, on a scratch database.
import { main } from "./lib/main.ts";
import { testCluster, withFreshDatabase } from "./lib/testdb.ts";
import { generateTypes, TYPES_FILE } from "./lib/types.ts";

await main(() =>
  withFreshDatabase(
    { cluster: testCluster("npm run gen:types"), prefix: "customers_types", seed: false },
    ({ url }) => {
      Deno.writeTextFileSync(TYPES_FILE, generateTypes(url));
      console.log(`wrote ${TYPES_FILE}`);
      return Promise.resolve();
    },
  )
);
