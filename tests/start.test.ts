// The README's first command: `npm start` (scripts/start.ts) brings up
// Postgres, migrations, seed and the functions; the example it prints
// (examples/invoke.mjs, supabase-js on Node) runs as pasted; Ctrl-C stops
// everything; a second start keeps the data; a taken port is one sentence.
import { freePort } from "../scripts/lib/net.ts";
import { findPgBouncer } from "../scripts/lib/pgbouncer.ts";
import { clusterDataDir } from "../scripts/lib/postgres.ts";
import { assert, assertEquals } from "./assert.ts";

const DATA = "start-smoke";
// Under .local/, or elsewhere as root when the postgres user cannot reach it.
const DATA_DIR = clusterDataDir(DATA);
/** Every stack a test started: stopped after it, even when an assertion failed. */
const stacks: Started[] = [];

interface Started {
  output: () => string;
  status: Promise<Deno.CommandStatus>;
  stop: () => Promise<Deno.CommandStatus>;
}

/** `npm start` as a user runs it, on ports of its own; resolves once its banner is out or it exited. */
async function start(
  ports: { port: number; dbPort: number },
  extra: Record<string, string> = {},
): Promise<Started> {
  const env = {
    ...Deno.env.toObject(),
    ...extra,
    PORT: String(ports.port),
    DB_PORT: String(ports.dbPort),
    LOCAL_DATA: DATA,
  };
  // The stack must bring its own database, whatever this run's SUPABASE_DB_URL is.
  delete (env as Record<string, string>).SUPABASE_DB_URL;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "scripts/start.ts"],
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  let bannerOut: () => void;
  const banner = new Promise<void>((resolve) => (bannerOut = resolve));
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      if (text.includes("Ctrl-C stops everything")) bannerOut();
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let exited = false;
  const status = child.status.then(async (s) => (exited = true, await pumps, s));
  // Up when the banner is out (the server answers by then); down if the process exits first.
  await Promise.race([banner, status]);
  const started = {
    output: () => text,
    status,
    stop: () => {
      if (!exited) child.kill("SIGINT");
      return status;
    },
  };
  stacks.push(started);
  return started;
}

/** The example command the banner prints, run as pasted into a shell. */
async function runPrintedExample(banner: string) {
  const command = /^\s*(SUPABASE_URL=\S+ SUPABASE_KEY=\S+ node .*examples\/invoke\.mjs)$/m
    .exec(banner)?.[1];
  assert(command, `the banner prints the example's command:\n${banner}`);
  const out = await new Deno.Command("sh", {
    args: ["-c", command],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  assertEquals(out.code, 0, `${command}\n${stdout}${new TextDecoder().decode(out.stderr)}`);
  const upserted = /^customers-upsert: (\{[\s\S]*?^\})$/m.exec(stdout)?.[1];
  const refused = /^(\d{3}) (\{.*\})$/m.exec(stdout);
  assert(upserted && refused, `the example prints both answers:\n${stdout}`);
  return {
    data: JSON.parse(upserted),
    refused: { status: Number(refused[1]), body: JSON.parse(refused[2]) },
  };
}

Deno.test.beforeEach(() => Deno.remove(DATA_DIR, { recursive: true }).catch(() => {}));
Deno.test.afterEach(async () => {
  for (const stack of stacks.splice(0)) await stack.stop();
  await Deno.remove(DATA_DIR, { recursive: true }).catch(() => {});
});

Deno.test("npm start: the printed example runs, Ctrl-C stops everything, the data stays", async () => {
  const ports = { port: freePort(), dbPort: freePort() };
  const first = await start(ports);
  const banner = first.output();
  assert(banner.includes(`http://127.0.0.1:${ports.port}/functions/v1/`), banner);
  assert(
    /publishable key\s+sb_publishable_\S+/.test(banner),
    "the banner names the publishable key",
  );
  const one = await runPrintedExample(banner);
  assertEquals([one.data.customer.email, one.data.customer.phone, one.data.profile.totalBookings], [
    "ada@example.com",
    "+442079460958",
    1,
  ]);
  assertEquals(one.refused.status, 400);
  assertEquals(typeof one.refused.body.error.code, "string");
  assertEquals((await first.stop()).code, 0);

  const second = await start(ports);
  const two = await runPrintedExample(second.output());
  assertEquals([two.data.created, two.data.customer.id, two.data.profile.totalBookings], [
    false,
    one.data.customer.id,
    2,
  ]);
  assertEquals((await second.stop()).code, 0);
});

Deno.test({
  name: "POOLER=1 npm start: the functions reach Postgres through PgBouncer (transaction mode)",
  ignore: !findPgBouncer(),
  async fn() {
    const ports = { port: freePort(), dbPort: freePort() };
    const poolerPort = freePort();
    const run = await start(ports, { POOLER: "1", POOLER_PORT: String(poolerPort) });
    const banner = run.output();
    assert(
      new RegExp(`Pooler\\s+postgresql://postgres@127\\.0\\.0\\.1:${poolerPort}/postgres\\s`)
        .test(banner),
      `the banner names the pooler:\n${banner}`,
    );
    const one = await runPrintedExample(banner);
    assertEquals(one.data.customer.email, "ada@example.com");
    assertEquals((await run.stop()).code, 0);
  },
});

for (const taken of ["PORT", "DB_PORT"] as const) {
  Deno.test(`npm start: a taken ${taken} is one sentence, and nothing starts`, async () => {
    const ports = { port: freePort(), dbPort: freePort() };
    const busy = taken === "PORT" ? ports.port : ports.dbPort;
    using _listener = Deno.listen({ hostname: "127.0.0.1", port: busy });
    const run = await start(ports);
    const { code } = await run.status;
    const output = run.output().trim();
    assertEquals(code, 1, output);
    assert(
      output.startsWith(`Port ${busy} (${taken}, `) && output.includes(`${taken}=`),
      `says which port is taken and how to move it:\n${output}`,
    );
    assertEquals(output.split("\n").length, 1, `one sentence, no stack trace:\n${output}`);
    assert(!output.includes("Customers module"), "no banner");
    assertEquals(await Deno.stat(DATA_DIR).then(() => true, () => false), false);
  });
}

Deno.test("README: the FunctionsHttpError snippet is the one examples/invoke.mjs runs", async () => {
  const readme = await Deno.readTextFile("README.md");
  const example = await Deno.readTextFile("examples/invoke.mjs");
  const snippet = /```js\n(if \(error instanceof FunctionsHttpError\) \{\n[\s\S]*?\n\})\n```/
    .exec(readme)?.[1];
  assert(snippet, "README has the snippet");
  assertEquals(snippet.split("\n").length, 3);
  const indented = snippet.split("\n").map((line) => `  ${line}`).join("\n");
  assert(example.includes(indented), `examples/invoke.mjs runs:\n${snippet}`);
});
