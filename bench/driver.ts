// The harness's end of a side's limit driver (bench/limit_driver.ts): one
// long-lived process per side, as the limit path ran in the harness's own
// process before, so its JIT stays warm from row to row.
import type { DriveResult } from "./measure.ts";
import { type DriverReply, type DriverRequest, REPLY } from "./driver_protocol.ts";
import { lines } from "./lines.ts";
import { denoConfigArgs, type Side } from "./sides.ts";

export interface Driver {
  /** Run setup requests straight to `url`, `batch` at a time over a pool of `max`. */
  setup(url: string, requests: unknown[], max: number, batch: number): Promise<void>;
  open(url: string, max: number): Promise<void>;
  drive(
    label: string,
    requests: unknown[],
    concurrency: number,
    silent?: boolean,
  ): Promise<DriveResult>;
  close(): Promise<void>;
  stop(): Promise<void>;
}

export function startDriver(side: Side): Driver {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      ...denoConfigArgs(side),
      new URL("./limit_driver.ts", import.meta.url).pathname,
      new URL(`file://${side.root}`).href,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  const replies = lines(child.stdout);
  const encoder = new TextEncoder();

  const ask = async (request: DriverRequest): Promise<DriverReply & { ok: true }> => {
    await writer.write(encoder.encode(JSON.stringify(request) + "\n"));
    for (let line = await replies.next(); !line.done; line = await replies.next()) {
      if (!line.value.startsWith(REPLY)) continue;
      const reply = JSON.parse(line.value.slice(REPLY.length)) as DriverReply;
      if (!reply.ok) throw new Error(`limit driver (${side.name}): ${reply.error}`);
      return reply;
    }
    throw new Error(`limit driver (${side.name}) exited`);
  };

  return {
    async setup(url, requests, max, batch) {
      await ask({ op: "setup", url, requests, max, batch });
    },
    async open(url, max) {
      await ask({ op: "open", url, max });
    },
    async drive(label, requests, concurrency, silent = false) {
      const { result } = await ask({ op: "drive", label, requests, concurrency, silent });
      return result!;
    },
    async close() {
      await ask({ op: "close" });
    },
    async stop() {
      await writer.close();
      await child.status;
    },
  };
}
