// A TCP proxy in front of Postgres, for the benchmark. It can hold every
// chunk from the server for a fixed time (a network round trip, which
// loopback lacks and this machine cannot add with netem), and it counts
// round trips: each time a client sends after having received, that is one
// more turn of the conversation. Controlled on stdin, each command answered
// on stdout: "reset" zeroes the count ("reset" back), "stop" (or the end of
// stdin) prints "turns N" and exits. (Not signals: SIGUSR1 opens Deno's
// inspector.)
//   deno run --allow-net bench/delay_proxy.ts <listen port> <target port> <delay ms>
import { lines } from "./lines.ts";

const [listenPort, targetPort, delayMs] = Deno.args.map(Number);
let turns = 0;

async function control() {
  for await (const command of lines(Deno.stdin.readable)) {
    if (command === "reset") {
      turns = 0;
      console.log("reset");
    } else if (command === "stop") {
      break;
    }
  }
  console.log(`turns ${turns}`);
  Deno.exit(0);
}

/** Per connection: whether the last data seen went server → client. */
interface Turns {
  answered: boolean;
}

async function pipe(
  from: Deno.Conn,
  to: Deno.Conn,
  delay: number,
  side: "request" | "answer",
  t: Turns,
) {
  // Chunks leave in arrival order, each `delay` ms after it arrived.
  const queue: Array<{ due: number; bytes: Uint8Array }> = [];
  let timer: ReturnType<typeof setTimeout> | null = null;
  let closed = false;
  const drain = async () => {
    timer = null;
    while (queue.length && queue[0].due <= performance.now()) {
      const { bytes } = queue.shift()!;
      try {
        for (let off = 0; off < bytes.length;) off += await to.write(bytes.subarray(off));
      } catch {
        closed = true;
      }
    }
    if (queue.length) timer = setTimeout(drain, Math.max(0, queue[0].due - performance.now()));
    else if (closed) to.close();
  };
  const buffer = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const n = await from.read(buffer);
      if (n === null) break;
      if (side === "request" && t.answered) turns++;
      t.answered = side === "answer";
      if (delay === 0) {
        for (let off = 0; off < n;) off += await to.write(buffer.subarray(off, n));
        continue;
      }
      queue.push({ due: performance.now() + delay, bytes: buffer.slice(0, n) });
      if (timer === null) timer = setTimeout(drain, delay);
    }
  } catch {
    // The other side went away.
  }
  closed = true;
  if (timer === null && queue.length === 0) {
    try {
      to.close();
    } catch {
      // Already closed.
    }
  }
}

const listener = Deno.listen({ hostname: "127.0.0.1", port: listenPort });
console.log("ready");
control();
for await (const client of listener) {
  Deno.connect({ hostname: "127.0.0.1", port: targetPort }).then((server) => {
    client.setNoDelay(true);
    server.setNoDelay(true);
    const t: Turns = { answered: true };
    pipe(client, server, 0, "request", t);
    pipe(server, client, delayMs, "answer", t);
  }, () => client.close());
}
