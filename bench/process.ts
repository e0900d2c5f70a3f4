// Benchmark plumbing: start a Deno server process on a free port, wait for
// its first answer, sample its resident memory, stop it.
import { SignJWT } from "jose";

export interface SpawnedServer {
  url: string;
  /** performance.now() when the first request was answered. */
  firstAnswerAt: number | null;
  /** Stop the process; returns its peak RSS in MiB over its life. */
  stop(): Promise<number>;
}

export async function signHs256(payload: Record<string, unknown>, secret: string): Promise<string> {
  return await new SignJWT(payload).setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .sign(new TextEncoder().encode(secret));
}

export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** The kernel's high-water mark of the process's resident memory (VmHWM), in MiB. */
function peakRssMiB(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? "0") / 1024;
  } catch {
    return 0;
  }
}

/**
 * Spawn `deno run <args>` listening on a free port (PORT for scripts/serve.ts,
 * DENO_SERVE_ADDRESS for a plain Deno.serve entrypoint) and wait until it
 * answers `firstRequest` (by default an OPTIONS preflight).
 */
export async function spawnServer(
  args: string[],
  env: Record<string, string>,
  options: { firstRequest?: RequestInit; quiet?: boolean } = {},
): Promise<SpawnedServer> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", ...args],
    env: { ...env, PORT: String(port), DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}` },
    stdout: "null",
    stderr: options.quiet === false ? "inherit" : "null",
  }).spawn();
  const base = `http://127.0.0.1:${port}`;
  const target = args.some((arg) => arg.endsWith("scripts/serve.ts"))
    ? `${base}/functions/v1/customers-upsert`
    : `${base}/`;
  let firstAnswerAt: number | null = null;
  for (let attempt = 0; attempt < 5000 && firstAnswerAt === null; attempt++) {
    try {
      const response = await fetch(target, options.firstRequest ?? { method: "OPTIONS" });
      await response.arrayBuffer();
      firstAnswerAt = performance.now();
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }
  if (firstAnswerAt === null) throw new Error(`${args[0]} did not answer`);
  return {
    url: base,
    firstAnswerAt,
    async stop() {
      const peak = peakRssMiB(child.pid);
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      await child.status;
      return peak;
    },
  };
}
