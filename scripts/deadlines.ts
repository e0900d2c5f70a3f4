// Read deadlines for the local functions server. Deno.serve has no header,
// body or idle timeouts: a client that sends one header byte every few
// seconds, or a body that never ends, or nothing at all, keeps its
// connection forever. So the public port is a small TCP relay in front of
// Deno.serve that watches each connection and closes it when:
// - headers: a request's header block is not complete `headerMs` after its
//   first byte (answered 408 first);
// - request: the request has had no answer `requestMs` after its first byte,
//   e.g. a body sent too slowly (answered 408 first);
// - idle: no request comes `idleMs` after connecting or after the last answer.
// The relay does not parse HTTP: a request starts with the first byte the
// client sends after an answer, and its headers end at the first blank line.

export interface Deadlines {
  headerMs: number;
  requestMs: number;
  idleMs: number;
}

// The request deadline leaves room for a call that waits its full
// DB_QUERY_TIMEOUT_MS (10 s) after a connect timeout (3 s).
export const DEFAULT_DEADLINES: Deadlines = { headerMs: 10_000, requestMs: 30_000, idleMs: 30_000 };

export type Expiry = "headers" | "request" | "idle";

const CR = 13;
const LF = 10;

/** One connection's deadline state: bytes seen and the clock in, a verdict out. */
export class ConnectionClock {
  #phase: "idle" | "headers" | "answering" = "idle";
  #since: number;
  // How much of the blank line (CR LF CR LF) the header block ends with so
  // far, carried across reads: a byte-at-a-time match with no allocation,
  // since every request's header bytes pass through here.
  #matched = 0;

  constructor(now: number, private readonly deadlines: Deadlines) {
    this.#since = now;
  }

  /** Bytes from the client. */
  request(bytes: Uint8Array, now: number): void {
    if (this.#phase === "idle") {
      this.#phase = "headers";
      this.#since = now;
      this.#matched = 0;
    }
    if (this.#phase !== "headers") return;
    let matched = this.#matched;
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i];
      // CR is expected at 0 and 2 matched, LF at 1 and 3; on a mismatch a CR
      // starts a new match.
      if (byte === (matched % 2 === 0 ? CR : LF)) {
        if (++matched === 4) {
          this.#phase = "answering";
          return;
        }
      } else {
        matched = byte === CR ? 1 : 0;
      }
    }
    this.#matched = matched;
  }

  /** Bytes from the server: the request has its answer. */
  answer(now: number): void {
    this.#phase = "idle";
    this.#since = now;
  }

  /** Which deadline has passed, if any. */
  expired(now: number): Expiry | null {
    const elapsed = now - this.#since;
    switch (this.#phase) {
      case "idle":
        return elapsed > this.deadlines.idleMs ? "idle" : null;
      case "headers":
        return elapsed > this.deadlines.headerMs ? "headers" : null;
      case "answering":
        return elapsed > this.deadlines.requestMs ? "request" : null;
    }
  }
}

const TIMEOUT_BODY = JSON.stringify({
  error: { code: "request_timeout", message: "The request was not received in time." },
});
const TIMEOUT_RESPONSE = new TextEncoder().encode(
  "HTTP/1.1 408 Request Timeout\r\nconnection: close\r\n" +
    "content-type: application/json; charset=utf-8\r\n" +
    `content-length: ${TIMEOUT_BODY.length}\r\n\r\n${TIMEOUT_BODY}`,
);

export interface Relay {
  /** Stop accepting, close every connection. */
  close(): void;
  /** Connections open now. */
  readonly open: number;
}

/**
 * Relay every connection of `listener` to `upstream` (the Deno.serve port),
 * closing those past a deadline. `onExpire` is told each closure's reason.
 */
export function relayWithDeadlines(
  listener: Deno.Listener,
  upstream: Deno.ConnectOptions,
  deadlines: Deadlines,
  onExpire: (reason: Expiry) => void = () => {},
): Relay {
  const open = new Map<Deno.Conn, { clock: ConnectionClock; close: () => void }>();
  // One sweep for all connections, a few times per shortest deadline.
  const every = Math.max(50, Math.min(1000, Math.min(...Object.values(deadlines)) / 4));
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const [client, { clock, close }] of open) {
      const reason = clock.expired(now);
      if (reason === null) continue;
      onExpire(reason);
      if (reason !== "idle") client.write(TIMEOUT_RESPONSE).catch(() => {}).finally(close);
      else close();
    }
  }, every);

  const serve = async (client: Deno.Conn) => {
    const clock = new ConnectionClock(performance.now(), deadlines);
    let server: Deno.Conn | null = null;
    const close = () => {
      open.delete(client);
      for (const conn of [client, server]) {
        try {
          conn?.close();
        } catch {
          // Already closed.
        }
      }
    };
    open.set(client, { clock, close });
    try {
      const upstreamConn = server = await Deno.connect(upstream);
      // A client that has sent everything may half-close and still await its answer.
      pump(client, upstreamConn, (bytes) => clock.request(bytes, performance.now()))
        .then(() => upstreamConn.closeWrite())
        .catch(close);
      await pump(upstreamConn, client, () => clock.answer(performance.now()));
    } catch {
      // A reset or a closed connection: nothing to answer.
    } finally {
      close();
    }
  };

  let closed = false;
  (async () => {
    while (!closed) {
      let client: Deno.Conn;
      try {
        client = await listener.accept();
      } catch (error) {
        // A connection reset before it was accepted must not end the accept
        // loop (only closing it does); other failures (no file descriptor
        // left…) pause it briefly rather than spin.
        const reset = error instanceof Deno.errors.NotConnected ||
          error instanceof Deno.errors.ConnectionReset ||
          error instanceof Deno.errors.ConnectionAborted;
        if (!closed && !reset) await new Promise((resolve) => setTimeout(resolve, 10));
        continue;
      }
      serve(client);
    }
  })();

  return {
    close() {
      closed = true;
      clearInterval(sweep);
      try {
        listener.close();
      } catch {
        // Already closed.
      }
      for (const { close } of open.values()) close();
    },
    get open() {
      return open.size;
    },
  };
}

/** Copy `from` to `to` until `from` ends; `seen` is told of every chunk before it is sent on. */
async function pump(from: Deno.Conn, to: Deno.Conn, seen: (bytes: Uint8Array) => void) {
  const buffer = new Uint8Array(16 * 1024);
  for (;;) {
    const n = await from.read(buffer);
    if (n === null) return;
    const chunk = buffer.subarray(0, n);
    seen(chunk);
    for (let sent = 0; sent < n;) sent += await to.write(chunk.subarray(sent));
  }
}
