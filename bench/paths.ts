// Opening a path of a side against a database: the side's limit driver, or
// a server process of the side (functions) or of the working tree (seed)
// driven over HTTP from here.
import type { BenchConfig } from "./config.ts";
import type { Driver } from "./driver.ts";
import { drive, type DriveResult } from "./measure.ts";
import { spawnServer } from "./process.ts";
import { denoConfigArgs, type Side } from "./sides.ts";
import type { PathName } from "./types.ts";

export interface OpenPath {
  drive(
    label: string,
    requests: unknown[],
    concurrency: number,
    silent?: boolean,
  ): Promise<DriveResult>;
  /** Close it; the server's peak RSS in MiB, or null for the limit path. */
  close(): Promise<number | null>;
}

export interface PathDeps {
  config: BenchConfig;
  /** The side's limit driver. */
  driver: Driver;
  /** A service-role JWT signed with config.jwtSecret. */
  token: string;
}

async function httpCall(url: string, token: string, body: unknown): Promise<boolean> {
  const response = await fetch(url, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  await response.arrayBuffer();
  return response.status === 200;
}

/** The server entry of a path: the side's own functions server, or the working tree's seed server. */
function serverEntry(side: Side, path: PathName): string[] {
  return path === "functions"
    ? [...denoConfigArgs(side), `${side.root}scripts/serve.ts`]
    : [new URL("./seed_server.ts", import.meta.url).pathname];
}

/** `clientUrl` is where the path's clients connect: the database, or a proxy in front of it. */
export async function openPath(
  deps: PathDeps,
  side: Side,
  path: PathName,
  clientUrl: string,
): Promise<OpenPath> {
  const { config, driver, token } = deps;
  if (path === "limit") {
    await driver.open(clientUrl, config.pool);
    return {
      drive: (label, requests, concurrency, silent) =>
        driver.drive(label, requests, concurrency, silent),
      close: async () => (await driver.close(), null),
    };
  }
  const server = await spawnServer(serverEntry(side, path), {
    SUPABASE_DB_URL: clientUrl,
    SUPABASE_JWT_SECRET: config.jwtSecret,
    SUPABASE_URL: "http://127.0.0.1:9",
    DB_POOL_MAX: String(config.pool),
  });
  const target = path === "functions"
    ? `${server.url}/functions/v1/customers-upsert`
    : `${server.url}/`;
  return {
    drive: (label, requests, concurrency, silent) =>
      drive(label, requests, concurrency, (r) => httpCall(target, token, r), silent),
    close: () => server.stop(),
  };
}
