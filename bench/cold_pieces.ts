// Each piece of a cold start on its own, in fresh processes
// (bench/cold_probe_piece.ts): runtime, Node layer, each dependency, connecting,
// SCRAM, first JWT, first validation, first phone parse.
import type { BenchConfig } from "./config.ts";
import { type ColdContext, here, medianProbe, serviceToken } from "./cold_processes.ts";

export interface ColdPhase {
  /** What was timed, e.g. "import zod". */
  phase: string;
  medianMs: number;
  note: string;
}

/** "npm:<name>@<version>" as the working tree's import map pins it, else `fallback`. */
async function pinned(config: BenchConfig, name: string, fallback: string): Promise<string> {
  const map = JSON.parse(await Deno.readTextFile(`${config.root}import_map.json`)) as {
    imports: Record<string, string>;
  };
  const found = Object.values(map.imports).find((v) => v.startsWith(`npm:${name}@`));
  return found ? /^npm:[^/]+(\/[^/]+)?@[^/]+/.exec(found)![0] : fallback;
}

/** Each piece of a cold start on its own, in fresh processes (the working tree's pinned versions). */
export async function phases(ctx: ColdContext): Promise<ColdPhase[]> {
  const { config, databases } = ctx;
  const runs = config.coldRuns;
  const spec = {
    postgres: await pinned(config, "postgres", "npm:postgres@3.4.9"),
    pg: await pinned(config, "pg", "npm:pg@8.23.1"),
    jose: await pinned(config, "jose", "npm:jose@6.2.18"),
    zod: await pinned(config, "zod", "npm:zod@4.6.7"),
    phone: await pinned(config, "libphonenumber-js", "npm:libphonenumber-js@1.13.16"),
  };
  const probe = (...args: string[]) => medianProbe(runs, [here("./cold_probe_piece.ts"), ...args]);
  const db = await databases.fresh(config.template);
  const rows: ColdPhase[] = [];
  const add = (phase: string, medianMs: number, note: string) =>
    rows.push({ phase, medianMs, note });

  const empty = await probe("empty");
  add("process start to exit, empty script", empty.wall, "spawn to exit, seen from the parent");
  add(
    "runtime start to first line of JavaScript",
    empty.boot,
    "performance.now() at the first line",
  );
  const compat = await probe("import", "node:crypto");
  add(
    "first node: import (node:crypto)",
    compat["node:crypto"],
    "the Node compatibility layer's start, paid once",
  );
  for (const specifier of [spec.postgres, spec.pg]) {
    const alone = await probe("import", specifier);
    const after = await probe("import", "node:crypto", specifier);
    add(`import ${specifier}`, alone[specifier], "alone: includes the Node layer's start");
    add(`import ${specifier} after node:crypto`, after[specifier], "its own share");
  }
  for (
    const specifier of [
      spec.jose,
      spec.zod,
      `${spec.zod}/mini`,
      `${spec.phone}/max`,
      `${spec.phone}/min`,
    ]
  ) {
    add(`import ${specifier}`, (await probe("import", specifier))[specifier], "alone");
  }
  // The first npm: import also starts the npm resolver; jose after another
  // npm package leaves that out, so the difference from jose alone is its cost.
  const joseSecond = await probe("import", spec.zod, spec.jose);
  add(`import ${spec.jose} after ${spec.zod}`, joseSecond[spec.jose], "not the first npm: import");
  const wire = await probe("connect-wire", db.url);
  add("open a connection: TCP", wire.tcp, "Deno.connect");
  add("open a connection: startup and authentication", wire.startup, "by hand: the server's share");
  const pgjs = await probe("connect-postgres", spec.postgres, db.url);
  add(
    "postgres.js: first query on a new connection",
    pgjs.first,
    "connect, startup, auth, select 1",
  );
  add("postgres.js: next query", pgjs.second, "select 1");
  const nodePg = await probe("connect-pg", spec.pg, db.url);
  add("pg: connect", nodePg.connect, "connect, startup, auth");
  add("pg: first query", nodePg.first, "select 1");
  add("pg: next query", nodePg.second, "select 1");
  for (const driver of [spec.postgres, spec.pg]) {
    const others = [spec.jose, spec.zod, `${spec.phone}/max`];
    const sequential = await probe("load-connect", "sequential", driver, db.url, ...others);
    const overlapped = await probe("load-connect", "overlapped", driver, db.url, ...others);
    add(
      `${driver}, then jose, zod, libphonenumber, then connect`,
      sequential.total,
      "one after the other",
    );
    add(
      `${driver}, then connect while jose, zod, libphonenumber load`,
      overlapped.total,
      "an eager connect at import",
    );
  }
  const token = await serviceToken(config, 0);
  for (const driver of [spec.postgres, spec.pg]) {
    for (const mode of ["sequential", "overlapped"]) {
      const r = await probe(
        "verify-connect",
        mode,
        driver,
        db.url,
        spec.jose,
        token,
        config.jwtSecret,
      );
      add(
        mode === "sequential"
          ? `${driver}: first JWT verification, then connect and query`
          : `${driver}: connect while the first JWT is verified, then query`,
        r.total,
        mode === "sequential" ? "as a request does today" : "a warm-up started with the request",
      );
    }
  }
  const scramNode = await probe("scram-node");
  add(
    "SCRAM key derivation, node:crypto pbkdf2Sync (postgres.js)",
    scramNode.first,
    "4096 rounds, first call, blocks the thread",
  );
  const scramWeb = await probe("scram-webcrypto");
  add(
    "SCRAM key derivation, crypto.subtle (pg 8.23)",
    scramWeb.first,
    "4096 rounds, first call, off the thread",
  );
  const jwt = await probe("jwt", spec.jose, token, config.jwtSecret);
  add("first HS256 verification (jose)", jwt.first, "after import");
  add("next HS256 verification", jwt.second, "");
  for (const [phase, specifier] of [["zod", spec.zod], ["zod-mini", `${spec.zod}/mini`]]) {
    const z = await probe(phase, specifier);
    add(`${specifier}: build an upsert-shaped schema`, z.build, "after import");
    add(`${specifier}: first parse`, z.first, "");
    add(`${specifier}: next parse`, z.second, "");
  }
  for (const variant of ["max", "min"]) {
    const p = await probe("phone", `${spec.phone}/${variant}`);
    add(`${spec.phone}/${variant}: first parse + isValid`, p.first, "metadata's first use");
    add(`${spec.phone}/${variant}: next parse + isValid`, p.second, "");
  }
  await databases.drop(db.name);
  return rows;
}
