// Control of bench/delay_proxy.ts: a pass-through proxy in front of Postgres
// that can hold every answer (a network's round trip) and counts round trips.
import { lines } from "./lines.ts";
import { freePort } from "./process.ts";

export interface Proxy {
  port: number;
  /** Zero the round-trip count; resolves once the proxy has done it. */
  resetTurns(): Promise<void>;
  /** Stop it; returns the round trips it counted since the last reset. */
  stop(): Promise<number>;
}

/**
 * With a 1 ms hold, a `select 1` round trip measures ~2.3 ms: timers
 * overshoot on this VM.
 */
export async function startProxy(targetPort: string, delayMs: number): Promise<Proxy> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      new URL("./delay_proxy.ts", import.meta.url).pathname,
      String(port),
      targetPort,
      String(delayMs),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const commands = child.stdin.getWriter();
  const output = lines(child.stdout);
  // Read by hand: leaving a for-await loop would close the generator.
  const expect = async (pattern: RegExp): Promise<RegExpExecArray> => {
    for (let line = await output.next(); !line.done; line = await output.next()) {
      const match = pattern.exec(line.value);
      if (match) return match;
    }
    throw new Error(`delay_proxy.ts exited before saying ${pattern}`);
  };
  const send = (command: string) => commands.write(new TextEncoder().encode(`${command}\n`));
  await expect(/^ready$/);
  return {
    port,
    async resetTurns() {
      await send("reset");
      await expect(/^reset$/);
    },
    async stop() {
      await send("stop");
      const turns = Number((await expect(/^turns (\d+)$/))[1]);
      await commands.close().catch(() => {});
      await child.status;
      return turns;
    },
  };
}

/** The same database URL, through the proxy when there is one. */
export function throughProxy(url: string, proxy: Proxy | null): string {
  if (proxy === null) return url;
  const u = new URL(url);
  u.port = String(proxy.port);
  return u.href;
}
