// The harness's own Postgres client (node-postgres, bind parameters), for
// cloning, checking and counting: independent of the driver either side's
// functions use, so a change there cannot change how the bench measures.
import pg from "pg";

/**
 * What the harness uses of pg.Client, typed here: @types/pg brings
 * @types/node@26, whose node:assert types then replace Deno's for the whole
 * `deno check` run and break tests/assert.ts.
 */
export interface Client {
  query<R>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
  end(): Promise<void>;
}

interface RawClient extends Client {
  connect(): Promise<void>;
  on(event: "notice", listener: () => void): void;
}

/** A connected client; the caller ends it. */
export async function connect(url: string): Promise<Client> {
  const client: RawClient = new pg.Client({ connectionString: url });
  // Notices (e.g. "database does not exist, skipping") are not ours to print.
  client.on("notice", () => {});
  await client.connect();
  return client;
}

/** Connect to `url`, run `fn`, disconnect. */
export async function withClient<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = await connect(url);
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
