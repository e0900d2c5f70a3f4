// Cold start: process start to first answer, for each side's functions and
// a bare Deno.serve, and the breakdown of where that time goes (bench/
// cold_probe.ts in situ, bench/cold_phases.ts piece by piece). Medians of
// `config.coldRuns` fresh processes each; runs of the sides interleaved.
import type { BenchConfig } from "./config.ts";
import type { Databases } from "./databases.ts";
import { median } from "./measure.ts";
import { signHs256, spawnServer } from "./process.ts";
import { denoConfigArgs, type Side } from "./sides.ts";
import type { SideName } from "./types.ts";

export interface ColdStart {
  side: SideName | null;
  name: string;
  medianMs: number;
  minMs: number;
}

/** The in-situ probe's steps (see bench/cold_probe.ts), medians in ms. */
export interface ColdProbe {
  side: SideName;
  /** Parent's view: spawn to exit of the probe process. */
  wall: number;
  boot: number;
  modules: number;
  first: number;
  warm: number;
  firstPhone: number;
  warmPhone: number;
}

export interface ColdPhase {
  /** What was timed, e.g. "import zod". */
  phase: string;
  medianMs: number;
  note: string;
}

export interface ColdStartReport {
  starts: ColdStart[];
  probes: ColdProbe[];
  phases: ColdPhase[];
}

export interface ColdContext {
  config: BenchConfig;
  databases: Databases;
}

const deno = Deno.execPath();
const here = (file: string) => new URL(file, import.meta.url).pathname;

function serverEnv(config: BenchConfig, url: string): Record<string, string> {
  return {
    SUPABASE_DB_URL: url,
    SUPABASE_JWT_SECRET: config.jwtSecret,
    SUPABASE_URL: "http://127.0.0.1:9",
  };
}

/** A different valid token per process start, as a fresh isolate meets a caller's token. */
function serviceToken(config: BenchConfig, n: number): Promise<string> {
  return signHs256(
    { role: "service_role", iss: "supabase", exp: 4102444800 + n },
    config.jwtSecret,
  );
}

/** Process start to first answer of each entry, both sides interleaved. */
async function endToEnd(ctx: ColdContext, sides: Side[]): Promise<ColdStart[]> {
  const { config, databases } = ctx;
  const dbs = await Promise.all(sides.map((s) => databases.fresh(s.template)));
  type Target = { side: Side | null; name: string; args: string[]; body: unknown; url: string };
  const targets: Target[] = [
    {
      side: null,
      name: "hello world (bare Deno.serve)",
      args: [here("./hello.ts")],
      body: null,
      url: "",
    },
  ];
  sides.forEach((side, i) => {
    const restaurantId = dbs[i].restaurantId;
    const entry = (
      fn: string,
    ) => [...denoConfigArgs(side), `${side.root}supabase/functions/${fn}/index.ts`];
    targets.push(
      {
        side,
        name: "customers-upsert",
        args: entry("customers-upsert"),
        body: { restaurantId, email: "cold@example.com" },
        url: dbs[i].url,
      },
      {
        side,
        name: "customers-upsert, first request with a phone",
        args: entry("customers-upsert"),
        body: { restaurantId, email: "cold@example.com", phone: "+44 7400 000001" },
        url: dbs[i].url,
      },
      {
        side,
        name: "customer-cancel",
        args: entry("customer-cancel"),
        body: { restaurantId, bookingId: crypto.randomUUID(), email: "cold@example.com" },
        url: dbs[i].url,
      },
    );
  });
  const times = targets.map(() => [] as number[]);
  for (let run = 0; run < config.coldRuns; run++) {
    for (const [t, target] of targets.entries()) {
      const token = await serviceToken(config, run * targets.length + t);
      const started = performance.now();
      const server = await spawnServer(target.args, serverEnv(config, target.url), {
        firstRequest: target.body === null ? { method: "GET" } : {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify(target.body),
        },
      });
      times[t].push(server.firstAnswerAt! - started);
      await server.stop();
    }
  }
  for (const db of dbs) await databases.drop(db.name);
  return targets.map((target, t) => ({
    side: target.side?.name ?? null,
    name: target.name,
    medianMs: median(times[t]),
    minMs: Math.min(...times[t]),
  }));
}

/** Run `deno run -A <args>` to its end; its JSON line and the wall time from spawn to exit. */
async function runProbe(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ wall: number; values: Record<string, number> }> {
  const started = performance.now();
  const out = await new Deno.Command(deno, {
    args: ["run", "-A", ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const wall = performance.now() - started;
  const text = new TextDecoder().decode(out.stdout);
  const line = text.trim().split("\n").findLast((l) => l.startsWith('{"boot"'));
  if (!out.success || !line) {
    throw new Error(
      `probe ${args.join(" ")} failed:\n${text}${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return { wall, values: JSON.parse(line) };
}

/** Medians, field by field, of `runs` runs of a probe. */
async function medianProbe(
  runs: number,
  args: string[],
  env?: Record<string, string>,
): Promise<Record<string, number>> {
  const samples: Array<Record<string, number>> = [];
  for (let i = 0; i < runs; i++) {
    const { wall, values } = await runProbe(args, env);
    samples.push({ wall, ...values });
  }
  return Object.fromEntries(
    Object.keys(samples[0]).map((k) => [k, median(samples.map((s) => s[k]))]),
  );
}

/** Each side's handler loaded and called in a fresh process, step by step. */
async function inSitu(ctx: ColdContext, sides: Side[]): Promise<ColdProbe[]> {
  const { config, databases } = ctx;
  const probes: ColdProbe[] = [];
  for (const side of sides) {
    const db = await databases.fresh(side.template);
    const samples: Array<Record<string, number>> = [];
    for (let run = 0; run < config.coldRuns; run++) {
      const tokens = [await serviceToken(config, 2 * run), await serviceToken(config, 2 * run + 1)];
      const { wall, values } = await runProbe(
        [
          ...denoConfigArgs(side),
          here("./cold_probe.ts"),
          `file://${side.root}`,
          db.restaurantId,
          ...tokens,
        ],
        serverEnv(config, db.url),
      );
      samples.push({ wall, ...values });
    }
    await databases.drop(db.name);
    const m = (k: string) => median(samples.map((s) => s[k]));
    probes.push({
      side: side.name,
      wall: m("wall"),
      boot: m("boot"),
      modules: m("modules"),
      first: m("first"),
      warm: m("warm"),
      firstPhone: m("firstPhone"),
      warmPhone: m("warmPhone"),
    });
  }
  return probes;
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
async function phases(ctx: ColdContext): Promise<ColdPhase[]> {
  const { config, databases } = ctx;
  const runs = config.coldRuns;
  const spec = {
    postgres: await pinned(config, "postgres", "npm:postgres@3.4.9"),
    pg: await pinned(config, "pg", "npm:pg@8.23.1"),
    jose: await pinned(config, "jose", "npm:jose@6.2.18"),
    zod: await pinned(config, "zod", "npm:zod@4.6.7"),
    phone: await pinned(config, "libphonenumber-js", "npm:libphonenumber-js@1.13.16"),
  };
  const probe = (...args: string[]) => medianProbe(runs, [here("./cold_phases.ts"), ...args]);
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
  const token = await serviceToken(config, 0);
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

export async function coldStarts(ctx: ColdContext, sides: Side[]): Promise<ColdStartReport> {
  return {
    starts: await endToEnd(ctx, sides),
    probes: await inSitu(ctx, sides),
    phases: await phases(ctx),
  };
}
