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
  /** Close the admin connection; a later call opens another. */
  end(): Promise<void>;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** Database names are built here or given by the runner; refuse anything that would need quoting. */
function identifier(name: string): string {
  if (!IDENTIFIER.test(name)) throw new Error(`not a plain database name: ${name}`);
  return name;
}

export async function openDatabases(adminUrl: string, prefix: string): Promise<Databases> {
  // One admin connection, opened on first use. end() closes it and a later
  // call opens another: bench:instructions closes it before it stops the
  // cluster for a backend of its own. A connection lost any other way still
  // fails the run, as an error no one handles.
  let current: Promise<Client> | null = null;
  const admin = (): Promise<Client> => (current ??= connect(adminUrl));
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
    async end() {
      const closing = current;
      current = null;
      await (await closing)?.end();
    },
  };
}
