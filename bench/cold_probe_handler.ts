// A side's customers-upsert handler, loaded and called in-process in a
// fresh runtime, each step timed: where its first answer's time goes.
//   deno run -A --config <side>/deno.json bench/cold_probe_handler.ts <side root URL> <restaurant id> <token> <token>
// with SUPABASE_DB_URL and SUPABASE_JWT_SECRET set. Only the handler's
// contract (a default export taking a Request) is relied on. Prints one
// JSON line of milliseconds:
//   boot        runtime start to this module's first line
//   modules     loading and evaluating the handler's module graph
//   first       the first request (email only): first JWT verification, first
//               validation, opening the database connection, the call
//   warm        the same kind of request again, with another token
//   firstPhone  the first request with a phone number (libphonenumber's first use)
//   warmPhone   another request with a phone number
const boot = performance.now();
const [root, restaurantId, firstToken, secondToken] = Deno.args;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const t0 = performance.now();
const handler = (await import(new URL("supabase/functions/customers-upsert/handler.ts", root).href))
  .default as (req: Request) => Promise<Response>;
const modules = performance.now() - t0;

const call = (token: string, body: Record<string, unknown>) => async () => {
  const response = await handler(
    new Request("http://127.0.0.1/functions/v1/customers-upsert", {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ restaurantId, ...body }),
    }),
  );
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${response.status}: ${text}`);
};

const first = await timed(call(firstToken, { email: "cold.first@example.com" }));
const warm = await timed(call(secondToken, { email: "cold.warm@example.com" }));
const firstPhone = await timed(call(secondToken, { phone: "+44 7400 000001" }));
const warmPhone = await timed(call(secondToken, { phone: "+44 7400 000002" }));
console.log(JSON.stringify({ boot, modules, first, warm, firstPhone, warmPhone }));
// The handler's pool keeps the process alive; the numbers are out.
Deno.exit(0);
