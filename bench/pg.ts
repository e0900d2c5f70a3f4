// The harness's own Postgres client (node-postgres, bind parameters), for
// cloning, checking and counting: independent of the driver either side's
// functions use, so a change there cannot change how the bench measures.
// @ts-types="npm:@types/pg@8.23.1"
import pg from "pg";

export type Client = pg.Client;

/** A connected client; the caller ends it. */
export async function connect(url: string): Promise<Client> {
  const client = new pg.Client({ connectionString: url });
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
