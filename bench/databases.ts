// Databases of a run: every row starts from a fresh clone of a migrated
// template, with two restaurants (one timed, one for the warm-up).
import { type Client, connect, withClient } from "./pg.ts";

export interface BenchDatabase {
  name: string;
  url: string;
  restaurantId: string;
  warmupId: string;
}

export interface Databases {
  /** A fresh clone of `template`. */
  fresh(template: string): Promise<BenchDatabase>;
  drop(name: string): Promise<void>;
  /** An empty database to migrate (a baseline's template). */
  create(name: string): Promise<string>;
  serverVersion(): Promise<string>;
  /** The URL of another database of the same server. */
  urlOf(name: string): string;
  end(): Promise<void>;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** Database names are built here or given by the runner; refuse anything that would need quoting. */
function identifier(name: string): string {
  if (!IDENTIFIER.test(name)) throw new Error(`not a plain database name: ${name}`);
  return name;
}

export async function openDatabases(adminUrl: string, prefix: string): Promise<Databases> {
  // One admin connection, opened again after the server restarts
  // (bench:instructions stops the cluster to run a backend of its own): its
  // loss is then an event of the old connection, not the process's crash.
  let current: Client | null = null;
  const admin = async (): Promise<Client> => {
    if (current) return current;
    const client = await connect(adminUrl);
    client.on("error", () => {
      if (current === client) current = null;
    });
    return (current = client);
  };
  await admin();
  let next = 0;
  const urlOf = (name: string) => {
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    return url.href;
  };
  return {
    urlOf,
    async fresh(template) {
      const name = identifier(`${prefix}_${next++}`);
      await (await admin()).query(`create database ${name} template ${identifier(template)}`);
      const url = urlOf(name);
      const { rows } = await withClient(url, (c) =>
        c.query<{ id: string }>(
          `insert into public.restaurants (name, phone_region)
           values ('Bench Bistro', 'GB'), ('Warm-up Cafe', 'GB') returning id`,
        ));
      return { name, url, restaurantId: rows[0].id, warmupId: rows[1].id };
    },
    async drop(name) {
      await (await admin()).query(`drop database if exists ${identifier(name)} with (force)`);
    },
    async create(name) {
      await (await admin()).query(`create database ${identifier(name)}`);
      return urlOf(name);
    },
    async serverVersion() {
      const { rows } = await (await admin()).query<{ version: string }>(
        "select current_setting('server_version') as version",
      );
      return rows[0].version;
    },
    end: async () => {
      await current?.end();
      current = null;
    },
  };
}
