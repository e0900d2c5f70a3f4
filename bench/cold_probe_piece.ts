// One phase of a cold start, timed in a fresh process: what the functions'
// first answer is made of, measured piece by piece. Run by bench/cold_start.ts
//   deno run -A bench/cold_probe_piece.ts <phase> [args…]
// and prints one JSON line of milliseconds. `boot` is the runtime's own
// start up to the first line of JavaScript (performance.now() counts from
// the runtime's time origin; the exec before it is in the parent's wall time).
//   import <specifier>…      load and evaluate each specifier in turn, timed one by one
//   connect-postgres <url>   postgres.js: first query on a new connection (TCP, startup, auth), then a second
//   connect-pg <url>         node-postgres: connect, then two queries
//   connect-wire <url>       Deno.connect and the startup message by hand (trust or cleartext
//                            password only): the server's share of opening a connection
//   load-connect <sequential|overlapped> <driver> <url> <specifier>…
//                            import the driver, then the other modules and open a
//                            connection: one after the other, or connecting while they load
//                            (an eager connect at import); total time
//   verify-connect <sequential|overlapped> <driver> <url> <jose> <token> <secret>
//                            a first request's own work: verify the JWT, then open a
//                            connection and query; or open it while the JWT is verified
//   scram-node               SCRAM's client key derivation (PBKDF2-SHA-256, 4096 rounds) with
//                            node:crypto's pbkdf2Sync, as postgres.js does it, on the main thread
//   scram-webcrypto          the same with crypto.subtle.deriveBits, as pg 8.23 does it, off the main thread
//   jwt <token> <secret>     jose: first and second HS256 verification
//   zod | zod-mini           build and run a schema shaped like the upsert request, twice
//   phone <specifier>        libphonenumber: first and second parse + isValid of a national number
const boot = performance.now();
const [phase, ...args] = Deno.args;

/** Time `fn`, in ms. */
async function timed(fn: () => unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

// Modules whose shape these probes rely on, as far as they use them.
interface PostgresJs {
  default: (url: string, options: Record<string, unknown>) => {
    unsafe(text: string): Promise<unknown>;
    end(): Promise<void>;
  };
}
interface NodePg {
  default: {
    Client: new (options: { connectionString: string }) => {
      connect(): Promise<void>;
      query(text: string): Promise<unknown>;
      end(): Promise<void>;
    };
  };
}
interface Jose {
  jwtVerify(token: string, key: Uint8Array, options: Record<string, unknown>): Promise<unknown>;
}
interface Phone {
  parsePhoneNumberFromString(
    text: string,
    options: { defaultCountry: string },
  ): { isValid(): boolean } | undefined;
}
// deno-lint-ignore no-explicit-any
type Zod = any;

async function run(): Promise<Record<string, number>> {
  switch (phase) {
    case "import": {
      const out: Record<string, number> = {};
      for (const specifier of args) out[specifier] = await timed(() => import(specifier));
      return out;
    }
    case "connect-postgres": {
      const postgres = (await import(args[0]) as PostgresJs).default;
      // As _shared/db.ts opens it: no prepared statements, no type catalogue.
      const sql = postgres(args[1], {
        prepare: false,
        fetch_types: false,
        max: 1,
        onnotice: () => {},
      });
      const first = await timed(() => sql.unsafe("select 1"));
      const second = await timed(() => sql.unsafe("select 1"));
      await sql.end();
      return { first, second, connect: first - second };
    }
    case "connect-pg": {
      const pg = (await import(args[0]) as NodePg).default;
      const client = new pg.Client({ connectionString: args[1] });
      const connect = await timed(() => client.connect());
      const first = await timed(() => client.query("select 1"));
      const second = await timed(() => client.query("select 1"));
      await client.end();
      return { connect, first, second };
    }
    case "load-connect": {
      const [mode, driver, url, ...others] = args;
      const t0 = performance.now();
      const open = await opener(driver, url);
      const connecting = mode === "overlapped" ? open() : null;
      for (const specifier of others) await import(specifier);
      await (connecting ?? open());
      return { total: performance.now() - t0 };
    }
    case "verify-connect": {
      const [mode, driver, url, josePath, token, secret] = args;
      const open = await opener(driver, url);
      const jose = await import(josePath) as Jose;
      const t0 = performance.now();
      const connecting = mode === "overlapped" ? open() : null;
      await jose.jwtVerify(token, new TextEncoder().encode(secret), { algorithms: ["HS256"] });
      await (connecting ?? open());
      return { total: performance.now() - t0 };
    }
    case "connect-wire":
      return await connectWire(new URL(args[0]));
    case "scram-node": {
      const crypto = await import("node:crypto");
      const derive = () =>
        crypto.pbkdf2Sync("a-database-password", "salt-of-16-bytes", 4096, 32, "sha256");
      return { first: await timed(derive), second: await timed(derive) };
    }
    case "scram-webcrypto": {
      const derive = async () => {
        const key = await crypto.subtle.importKey(
          "raw",
          new TextEncoder().encode("a-database-password"),
          "PBKDF2",
          false,
          ["deriveBits"],
        );
        const salt = new TextEncoder().encode("salt-of-16-bytes");
        await crypto.subtle.deriveBits(
          { name: "PBKDF2", hash: "SHA-256", salt, iterations: 4096 },
          key,
          256,
        );
      };
      return { first: await timed(derive), second: await timed(derive) };
    }
    case "jwt": {
      const jose = await import(args[0]) as Jose;
      const [, token, secret] = args;
      const key = new TextEncoder().encode(secret);
      const verify = () => jose.jwtVerify(token, key, { algorithms: ["HS256"] });
      return { first: await timed(verify), second: await timed(verify) };
    }
    case "zod":
    case "zod-mini": {
      const { z } = await import(args[0]) as { z: Zod };
      const mini = phase === "zod-mini";
      const text = (max: number) =>
        mini ? z.nullish(z.string().check(z.maxLength(max))) : z.string().max(max).nullish();
      const body = {
        restaurantId: "0b6f3c1e-1f7a-4c55-9d7e-2a1e5c3b8f10",
        name: "Ada Lovelace",
        email: "ada@example.com",
        phone: "07400 000001",
      };
      let schema: Zod;
      const build = () => {
        schema = z.strictObject({
          restaurantId: z.guid(),
          name: text(200),
          email: text(320),
          phone: text(40),
          marketingOptIn: mini ? z._default(z.boolean(), false) : z.boolean().default(false),
        });
      };
      const parse = () => {
        if (!schema.safeParse(body).success) throw new Error("the probe's body does not parse");
      };
      return { build: await timed(build), first: await timed(parse), second: await timed(parse) };
    }
    case "phone": {
      const lib = await import(args[0]) as Phone;
      const parse = () =>
        lib.parsePhoneNumberFromString("07400 000001", { defaultCountry: "GB" })?.isValid();
      return { first: await timed(parse), second: await timed(parse) };
    }
    case "empty":
      return {};
  }
  throw new Error(`unknown phase ${phase}`);
}

/** Import a driver; a function that opens a connection and runs `select 1` with it. */
async function opener(driver: string, url: string): Promise<() => Promise<unknown>> {
  if (/^npm:pg@/.test(driver)) {
    const pg = (await import(driver) as NodePg).default;
    return async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      return await client.query("select 1");
    };
  }
  const postgres = (await import(driver) as PostgresJs).default;
  return () =>
    postgres(url, { prepare: false, fetch_types: false, max: 1, onnotice: () => {} })
      .unsafe("select 1");
}

/** TCP, then StartupMessage → (password) → ReadyForQuery; NaN when the server asks for more than a password. */
async function connectWire(url: URL): Promise<Record<string, number>> {
  const t0 = performance.now();
  const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port || "5432") });
  const tcp = performance.now() - t0;
  const encoder = new TextEncoder();
  const message = (type: string | null, body: Uint8Array) => {
    const head = type === null ? 0 : 1;
    const bytes = new Uint8Array(head + 4 + body.length);
    if (type !== null) bytes[0] = type.charCodeAt(0);
    new DataView(bytes.buffer).setInt32(head, 4 + body.length);
    bytes.set(body, head + 4);
    return bytes;
  };
  const user = decodeURIComponent(url.username);
  const database = url.pathname.slice(1);
  const startup = encoder.encode(`\0\0\0\0user\0${user}\0database\0${database}\0\0`);
  new DataView(startup.buffer).setInt32(0, 196608); // protocol 3.0
  await conn.write(message(null, startup));
  const buffer = new Uint8Array(16 * 1024);
  let seen = "";
  try {
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) return { tcp, startup: NaN };
      // Authentication request: 0 ok, 3 cleartext password; anything else is not handled here.
      if (buffer[0] === 0x52) {
        const code = new DataView(buffer.buffer).getInt32(5);
        if (code === 3) {
          await conn.write(message("p", encoder.encode(`${decodeURIComponent(url.password)}\0`)));
          continue;
        }
        if (code !== 0) return { tcp, startup: NaN };
      }
      seen += String.fromCharCode(...buffer.subarray(0, n));
      // ReadyForQuery ('Z', length 5, status) ends the startup.
      // deno-lint-ignore no-control-regex
      if (/Z\0\0\0\x05[ITE]$/.test(seen)) return { tcp, startup: performance.now() - t0 - tcp };
    }
  } finally {
    conn.close();
  }
}

const result = await run();
console.log(JSON.stringify({ boot, ...result }));
// A connection left open would keep the process alive; the numbers are out.
Deno.exit(0);
