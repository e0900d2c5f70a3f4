// The limit path of one side, in a process of its own: that side's
// upsertCustomer over that side's own database pool, no HTTP. Started by
// bench/driver.ts as
//   deno run -A --config <side>/deno.json bench/limit_driver.ts <side root URL>
// so the side's modules resolve through the side's own import map. It
// answers one JSON line per JSON line on stdin (replies start with REPLY, so
// anything else the side prints is ignored). Only relative imports here:
// the side's import map may not know this tree's packages.
import { drive } from "./measure.ts";
import { type DriverReply, type DriverRequest, REPLY } from "./driver_protocol.ts";
import { lines } from "./lines.ts";

interface Pool {
  end(): Promise<unknown>;
}
type Upsert = (pool: Pool, claims: { role: string }, request: unknown) => Promise<unknown>;
type PoolFactory = (url: string, max: number) => Promise<Pool>;

const SERVICE = { role: "service_role" };

/**
 * The side's pool factory, found by name: `createDb(url, { max })` (node-postgres),
 * `createSql(url, { max })` (the postgres.js era) or `createPool(url, { max })`; BENCH_POOL_FACTORY names
 * another export of `_shared/db.ts` taking the same arguments. It may
 * return the pool or a promise of it.
 */
function poolFactory(db: Record<string, unknown>): PoolFactory {
  const names = [Deno.env.get("BENCH_POOL_FACTORY"), "createDb", "createSql", "createPool"]
    .filter((n): n is string => !!n);
  for (const name of names) {
    const factory = db[name];
    if (typeof factory === "function") return async (url, max) => await factory(url, { max });
  }
  throw new Error(
    `_shared/db.ts exports none of ${names.join(", ")} (it has ${Object.keys(db).join(", ")})`,
  );
}

async function main(root: string) {
  const customers = await import(new URL("supabase/functions/_shared/customers.ts", root).href);
  const db = await import(new URL("supabase/functions/_shared/db.ts", root).href);
  if (typeof customers.upsertCustomer !== "function") {
    throw new Error("_shared/customers.ts exports no upsertCustomer(pool, claims, request)");
  }
  const upsert = customers.upsertCustomer as Upsert;
  const createPool = poolFactory(db);
  // The pool of the row being driven, between open and close.
  const open: { pool: Pool | null } = { pool: null };

  const handle = async (request: DriverRequest): Promise<DriverReply> => {
    switch (request.op) {
      case "setup": {
        // Untimed setup requests, straight to the database.
        const setupPool = await createPool(request.url, request.max);
        try {
          for (let i = 0; i < request.requests.length; i += request.batch) {
            await Promise.all(
              request.requests.slice(i, i + request.batch).map((r) =>
                upsert(setupPool, SERVICE, r)
              ),
            );
          }
        } finally {
          await setupPool.end();
        }
        return { ok: true };
      }
      case "open":
        open.pool = await createPool(request.url, request.max);
        return { ok: true };
      case "drive": {
        const pool = open.pool;
        if (pool === null) throw new Error("drive before open");
        const call = async (r: unknown) => (await upsert(pool, SERVICE, r), true);
        return {
          ok: true,
          result: await drive(
            request.label,
            request.requests,
            request.concurrency,
            call,
            request.silent,
          ),
        };
      }
      case "close":
        await open.pool?.end();
        open.pool = null;
        return { ok: true };
    }
  };

  for await (const line of lines(Deno.stdin.readable)) {
    if (line.trim() === "") continue;
    let reply: DriverReply;
    try {
      reply = await handle(JSON.parse(line) as DriverRequest);
    } catch (error) {
      reply = {
        ok: false,
        error: error instanceof Error ? error.stack ?? error.message : String(error),
      };
    }
    console.log(REPLY + JSON.stringify(reply));
  }
  await open.pool?.end();
}

await main(Deno.args[0]);
