// Starting a server process and waiting until it serves: the functions
// server for the tests, `npm start` and the benchmark, or any Deno.serve
// entry point the benchmark compares with.
import { freePort } from "./net.ts";
import { ROOT } from "./paths.ts";

export interface StartOptions {
  /** `deno run` arguments after the permission flags, e.g. ["scripts/serve.ts"]. */
  args: string[];
  /** Added to our environment for the process. */
  env: Record<string, string>;
  /**
   * How readiness is judged: "listening" (default) waits for the server's
   * listening log line; a RequestInit sends that request to the first
   * function (or to / for a plain Deno.serve entry point) until it is
   * answered, which times a cold start to its first answer.
   */
  ready?: "listening" | RequestInit;
  /** Extra `deno run` flags, e.g. ["--inspect=127.0.0.1:0"]. */
  denoFlags?: string[];
  /**
   * Where its output goes: "log" (default) keeps it in a file for `logs`;
   * "inherit" lets it through to ours; "discard" drops it, and spawns deno
   * directly (no shell in between, for the benchmark's cold-start timing).
   */
  output?: "log" | "inherit" | "discard";
  /** A fixed port instead of a free one. */
  port?: number;
  /**
   * Open the V8 inspector on a free local port, for heapAfterGc(). The
   * runtime's own lines about it are left out of `logs`.
   */
  inspect?: boolean;
}

export interface StartedServer {
  url: string;
  pid: number;
  /** performance.now() when the ready request was answered (ready: RequestInit). */
  firstAnswerAt: number | null;
  /** Every line the server wrote to stdout and stderr so far. */
  readonly logs: string[];
  /** The kernel's high-water mark of its resident memory (VmHWM), in MiB. */
  peakRssMiB(): number;
  /** SIGTERM, then wait for its exit; resolves to its peak RSS in MiB. Idempotent. */
  stop(): Promise<number>;
  /** Resolves with its exit code when the process ends, for whatever reason. */
  exited: Promise<number>;
  /**
   * Bytes of JavaScript heap still in use after a full garbage collection
   * (needs `inspect`): what the server retains, whatever the collector's
   * timing, unlike its resident set.
   */
  heapAfterGc(): Promise<number>;
}

// What the runtime itself prints about the inspector, not the server's own lines.
const INSPECTOR =
  /^(Debugger listening on ws:|Visit chrome:\/\/inspect|Debugger session (started|ended))/;
const LISTENING = /"msg":"listening","url":"([^"]+)"|Listening on (http:\/\/\S+?)\/?$/m;

/**
 * Spawn `deno run --allow-net --allow-env --allow-read <args>` on a free port
 * (PORT for scripts/serve.ts, DENO_SERVE_ADDRESS for a Deno.serve entry
 * point) and resolve once it is ready.
 *
 * Its output goes to a file rather than a pipe: a pipe needs a read pending
 * for the server's whole life (which the test sanitizers rightly report when
 * a server outlives one test), and an unread pipe blocks the server once full.
 */
export async function startServer(options: StartOptions): Promise<StartedServer> {
  const port = options.port ?? freePort();
  const deno = [
    Deno.execPath(),
    "run",
    "--allow-net",
    "--allow-env",
    "--allow-read",
    ...(options.inspect ? ["--inspect=127.0.0.1:0"] : []),
    ...(options.denoFlags ?? []),
    ...options.args,
  ];
  const output = options.output ?? "log";
  const direct = output !== "log";
  if (direct && typeof options.ready !== "object") {
    throw new Error("a server whose output is not logged is ready by a request, not a log line");
  }
  const serveTs = options.args.some((arg) => arg.endsWith("scripts/serve.ts"));
  const logFile = await Deno.makeTempFile({ prefix: "customers-server-", suffix: ".log" });
  const child = new Deno.Command(direct ? deno[0] : "sh", {
    args: direct ? deno.slice(1) : ["-c", 'exec "$@" >"$0" 2>&1', logFile, ...deno],
    cwd: ROOT,
    env: {
      ...options.env,
      PORT: String(port),
      // For a plain Deno.serve entry; scripts/serve.ts takes PORT for its
      // public relay and serves on a port of its own behind it.
      ...(serveTs ? {} : { DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}` }),
    },
    stdin: "null",
    stdout: output === "inherit" ? "inherit" : "null",
    stderr: output === "inherit" ? "inherit" : "null",
  }).spawn();
  let exited = false;
  const status = child.status.finally(() => (exited = true));
  let kept: string[] | null = null;
  const read = () =>
    kept ??
      Deno.readTextFileSync(logFile).split("\n").filter((l) => l !== "" && !INSPECTOR.test(l));
  const peakRssMiB = () => {
    try {
      const proc = Deno.readTextFileSync(`/proc/${child.pid}/status`);
      return Number(/VmHWM:\s+(\d+)/.exec(proc)?.[1] ?? "0") / 1024;
    } catch {
      return 0;
    }
  };
  const stop = async () => {
    if (kept) return 0;
    const peak = peakRssMiB();
    if (!exited) child.kill("SIGTERM");
    await status;
    kept = direct ? [] : read();
    await Deno.remove(logFile).catch(() => {});
    return peak;
  };

  const base = `http://127.0.0.1:${port}`;
  const target = serveTs ? `${base}/functions/v1/customers-upsert` : `${base}/`;
  let firstAnswerAt: number | null = null;
  const deadline = performance.now() + 60_000;
  const ready = async (): Promise<boolean> => {
    if (options.ready === undefined || options.ready === "listening") {
      return LISTENING.test(read().join("\n"));
    }
    try {
      const response = await fetch(target, options.ready);
      await response.arrayBuffer();
      firstAnswerAt = performance.now();
      return true;
    } catch {
      return false;
    }
  };
  // Polled: the log file has no event to wait on, and a connection refused
  // is the only sign a server is not listening yet.
  while (!(await ready())) {
    if (exited || performance.now() > deadline) {
      const logs = read().join("\n");
      await stop();
      throw new Error(`${options.args.join(" ")} did not start:\n${logs}`);
    }
    await new Promise((resolve) => setTimeout(resolve, typeof options.ready === "object" ? 2 : 10));
  }
  return {
    url: base,
    pid: child.pid,
    firstAnswerAt,
    get logs() {
      return read();
    },
    peakRssMiB,
    stop,
    exited: status.then((s) => s.code),
    heapAfterGc: () => {
      const text = direct ? "" : Deno.readTextFileSync(logFile);
      const ws = /^Debugger listening on (ws:\/\/\S+)/m.exec(text)?.[1];
      if (!ws) return Promise.reject(new Error("heapAfterGc needs a server started with inspect"));
      return heapAfterGc(ws);
    },
  };
}

/** The benchmark's form: `deno run <args>` on a free port, ready once it answers `firstRequest`. */
export function spawnServer(
  args: string[],
  env: Record<string, string>,
  options: { firstRequest?: RequestInit; quiet?: boolean } = {},
): Promise<StartedServer> {
  return startServer({
    args,
    env,
    ready: options.firstRequest ?? { method: "OPTIONS" },
    output: options.quiet === false ? "inherit" : "discard",
  });
}

/** Over the inspector protocol: collect garbage, then read the heap's used size. */
async function heapAfterGc(url: string): Promise<number> {
  const ws = new WebSocket(url);
  try {
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error(`cannot reach the inspector at ${url}`));
    });
    const replies = new Map<number, (result: Record<string, number>) => void>();
    ws.onmessage = (event) => {
      const message = JSON.parse(event.data);
      replies.get(message.id)?.(message.result);
    };
    let id = 0;
    const call = (method: string) =>
      new Promise<Record<string, number>>((resolve) => {
        replies.set(++id, resolve);
        ws.send(JSON.stringify({ id, method }));
      });
    await call("HeapProfiler.collectGarbage");
    return (await call("Runtime.getHeapUsage")).usedSize;
  } finally {
    const closed = new Promise((resolve) => (ws.onclose = resolve));
    ws.close();
    await closed;
  }
}
