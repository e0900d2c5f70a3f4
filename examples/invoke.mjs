// @ts-check
// Calling the customers module from an app with supabase-js, as in the
// README. Run the command `npm start` prints: it sets SUPABASE_URL and
// SUPABASE_KEY (the local service_role key) for this file.
//   Node 22+: node examples/invoke.mjs
//   Node 20:  node --experimental-websocket examples/invoke.mjs
// (supabase-js 2.119 needs a WebSocket class, built into Node from 22 on.)
import process from "node:process";
import { createClient, FunctionsHttpError } from "@supabase/supabase-js";

const { SUPABASE_URL, SUPABASE_KEY } = process.env;
const restaurantId = process.env.RESTAURANT_ID ?? "00000000-0000-4000-8000-000000000001";
if (!SUPABASE_URL || !SUPABASE_KEY) {
  console.error("Set SUPABASE_URL and SUPABASE_KEY: run the command that `npm start` prints.");
  process.exit(2);
}
const supabase = createClient(SUPABASE_URL, SUPABASE_KEY, {
  auth: { persistSession: false, autoRefreshToken: false },
});

// A guest books a table: the customer is found or created, the booking counted.
const { data, error } = await supabase.functions.invoke("customers-upsert", {
  body: {
    restaurantId,
    name: "Ada",
    email: "Ada@Example.com",
    phone: "020 7946 0958",
    marketingOptIn: true,
    booking: { id: crypto.randomUUID(), covers: 2 },
  },
});
if (error) throw error;
console.log("customers-upsert:", JSON.stringify(data, null, 2));

// A refused call (no contact given). supabase-js returns a FunctionsHttpError
// whose context is the Response: our JSON error body is in it.
{
  const { error } = await supabase.functions.invoke("customers-upsert", { body: { restaurantId } });
  if (error instanceof FunctionsHttpError) {
    console.log(error.context.status, JSON.stringify(await error.context.json()));
  }
}
