// PgBouncer in transaction mode in front of a database: the local stand-in
// for hosted Supabase's Supavisor transaction pooler (port 6543). PgBouncer
// comes from the OS packages (`apt-get install pgbouncer`; .ci/run installs
// it); tests, `POOLER=1 npm start` and the benchmarks start it through here.
import { existsSync } from "node:fs";
import { UserError } from "./main.ts";
import { assertPortFree, freePort } from "./net.ts";

/** The pgbouncer binary (PGBOUNCER, else the Debian/Homebrew places, else PATH), or null. */
export function findPgBouncer(): string | null {
  const given = Deno.env.get("PGBOUNCER");
  const candidates = [
    ...(given ? [given] : []),
    "/usr/sbin/pgbouncer",
    "/usr/bin/pgbouncer",
    "/usr/local/bin/pgbouncer",
    "/opt/homebrew/bin/pgbouncer",
  ];
  for (const path of candidates) if (existsSync(path)) return path;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir && existsSync(`${dir}/pgbouncer`)) return `${dir}/pgbouncer`;
  }
  return null;
}

/** True when REQUIRE_POOLER=1 makes a missing pgbouncer a failure (CI). */
export function poolerRequired(): boolean {
  return Deno.env.get("REQUIRE_POOLER") === "1";
}

export interface PgBouncerOptions {
  /** The database URL it pools (owner URL of one database). */
  target: string;
  /** Listen port; a free one when absent. */
  port?: number;
  /** For the message when `port` is taken. */
  portVariable?: string;
  command?: string;
  /** Server connections per database/user pair (PgBouncer's default_pool_size). */
  poolSize?: number;
  /** Client connections it accepts in all (max_client_conn). */
  maxClientConn?: number;
  /** Pool every database of the target's server (`* = host=…`), not only the target's. */
  allDatabases?: boolean;
}

export interface PgBouncer {
  /** The target's URL through the pooler (same user and database). */
  url: string;
  port: number;
  poolSize: number;
  maxClientConn: number;
  /** The pooler's URL for another database of the same server (allDatabases). */
  urlOf(database: string): string;
  /** Lines of its log so far (connection refusals, unsupported parameters). */
  log(): string;
  stop(): Promise<void>;
}

/** Start PgBouncer (pool_mode = transaction) in front of `target`; resolves once it accepts connections. */
export async function startPgBouncer(options: PgBouncerOptions): Promise<PgBouncer> {
  const binary = findPgBouncer();
  if (!binary) {
    throw new UserError(
      "pgbouncer is not installed: `apt-get install pgbouncer` (Debian/Ubuntu) or " +
        "`brew install pgbouncer`, or set PGBOUNCER to its path.",
    );
  }
  if (options.port !== undefined) {
    assertPortFree(
      options.port,
      options.portVariable ?? "POOLER_PORT",
      "PgBouncer",
      options.command ?? "this command",
    );
  }
  const target = new URL(options.target);
  const dir = await Deno.makeTempDir({ prefix: "pgbouncer-" });
  const port = options.port ?? freePort();
  const poolSize = options.poolSize ?? 20;
  const maxClientConn = options.maxClientConn ?? 400;
  const user = decodeURIComponent(target.username || "postgres");
  const password = decodeURIComponent(target.password);
  const database = decodeURIComponent(target.pathname.slice(1) || "postgres");
  const server = `host=${target.hostname} port=${target.port || 5432} user=${user}${
    password ? ` password=${password}` : ""
  }`;
  await Deno.writeTextFile(`${dir}/users.txt`, `"${user}" "${password}"\n`);
  await Deno.writeTextFile(
    `${dir}/pgbouncer.ini`,
    [
      "[databases]",
      options.allDatabases ? `* = ${server}` : `${database} = ${server} dbname=${database}`,
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${port}`,
      "unix_socket_dir =",
      // Clients are local and trusted; the server side uses the target's password.
      "auth_type = trust",
      `auth_file = ${dir}/users.txt`,
      "pool_mode = transaction",
      `default_pool_size = ${poolSize}`,
      `max_client_conn = ${maxClientConn}`,
      `logfile = ${dir}/pgbouncer.log`,
      `pidfile = ${dir}/pgbouncer.pid`,
    ].join("\n") + "\n",
  );
  // As root, pgbouncer must switch to another user, who must reach its files.
  const asRoot = Deno.uid() === 0;
  if (asRoot) await Deno.chmod(dir, 0o777);
  const child = new Deno.Command(binary, {
    args: [...(asRoot ? ["-u", "postgres"] : []), `${dir}/pgbouncer.ini`],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let exited = false;
  const status = child.status.finally(() => (exited = true));
  const log = () => {
    try {
      return Deno.readTextFileSync(`${dir}/pgbouncer.log`);
    } catch {
      return "";
    }
  };
  const stop = async () => {
    if (!exited) child.kill("SIGTERM");
    await status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  // Ready when it accepts a connection: polled, as a refused connection is
  // the only sign it is not listening yet.
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch (error) {
      if (exited || Date.now() > deadline) {
        const text = log();
        await stop();
        throw new Error(`pgbouncer did not start: ${error}\n${text}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  const urlOf = (name: string) => {
    const url = new URL(options.target);
    url.hostname = "127.0.0.1";
    url.port = String(port);
    url.password = "";
    url.pathname = `/${name}`;
    return url.href;
  };
  return {
    url: urlOf(database),
    port,
    poolSize,
    maxClientConn,
    urlOf,
    log,
    stop,
  };
}
