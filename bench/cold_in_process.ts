// A side's customers-upsert handler loaded and called in fresh processes
// (bench/cold_probe_handler.ts), step by step: where its first answer's time goes.
import { median } from "./measure.ts";
import { type ColdContext, here, runProbe, serverEnv, serviceToken } from "./cold_processes.ts";
import { denoConfigArgs, type Side } from "./sides.ts";
import type { SideName } from "./types.ts";

/** The in-situ probe's steps (see bench/cold_probe_handler.ts), medians in ms. */
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

/** Each side's handler loaded and called in a fresh process, step by step. */
export async function inSitu(ctx: ColdContext, sides: Side[]): Promise<ColdProbe[]> {
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
          here("./cold_probe_handler.ts"),
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
