// Fresh processes for the cold-start measurements: the environment a
// function gets, a token per start, and running a probe script to its end.
import type { BenchConfig } from "./config.ts";
import type { Databases } from "./databases.ts";
import { median } from "./measure.ts";
import { signHs256 } from "./process.ts";

export interface ColdContext {
  config: BenchConfig;
  databases: Databases;
}

export const here = (file: string) => new URL(file, import.meta.url).pathname;

export function serverEnv(config: BenchConfig, url: string): Record<string, string> {
  return {
    SUPABASE_DB_URL: url,
    SUPABASE_JWT_SECRET: config.jwtSecret,
    SUPABASE_URL: "http://127.0.0.1:9",
  };
}

/** A different valid token per process start, as a fresh isolate meets a caller's token. */
export function serviceToken(config: BenchConfig, n: number): Promise<string> {
  return signHs256(
    { role: "service_role", iss: "supabase", exp: 4102444800 + n },
    config.jwtSecret,
  );
}

/** Run `deno run -A <args>` to its end; its JSON line and the wall time from spawn to exit. */
export async function runProbe(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ wall: number; values: Record<string, number> }> {
  const started = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
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
export async function medianProbe(
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
