// Cold start: process start to first answer, for each side's functions and
// a bare Deno.serve, and the breakdown of where that time goes (in process:
// cold_in_process.ts; piece by piece: cold_pieces.ts). Medians of
// `config.coldRuns` fresh processes each; runs of the sides interleaved.
import { type ColdContext, here, serverEnv, serviceToken } from "./cold_processes.ts";
import { type ColdProbe, inSitu } from "./cold_in_process.ts";
import { type ColdPhase, phases } from "./cold_pieces.ts";
import { median } from "./measure.ts";
import { spawnServer } from "./process.ts";
import { denoConfigArgs, type Side } from "./sides.ts";
import type { SideName } from "./types.ts";

export type { ColdContext, ColdPhase, ColdProbe };

export interface ColdStart {
  side: SideName | null;
  name: string;
  medianMs: number;
  minMs: number;
}

export interface ColdStartReport {
  starts: ColdStart[];
  probes: ColdProbe[];
  phases: ColdPhase[];
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

export async function coldStarts(ctx: ColdContext, sides: Side[]): Promise<ColdStartReport> {
  return {
    starts: await endToEnd(ctx, sides),
    probes: await inSitu(ctx, sides),
    phases: await phases(ctx),
  };
}
