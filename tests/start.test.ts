// The README's first command: `npm start` (scripts/start.mjs) brings up
// Postgres, migrations, seed and the functions; the printed supabase-js
// example works; Ctrl-C stops everything; a second start keeps the data.
import { createClient } from "@supabase/supabase-js";
import { assert, assertEquals } from "./assert.ts";

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

const port = freePort();
const dbPort = freePort();

async function start(): Promise<{ output: () => string; stop: () => Promise<Deno.CommandStatus> }> {
  const env = {
    ...Deno.env.toObject(),
    PORT: String(port),
    DB_PORT: String(dbPort),
    LOCAL_DATA: "start-smoke",
  };
  // The stack must bring its own database, whatever this run's SUPABASE_DB_URL is.
  delete (env as Record<string, string>).SUPABASE_DB_URL;
  const child = new Deno.Command("node", {
    args: ["scripts/start.mjs"],
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  let listening: () => void;
  const up = new Promise<void>((resolve) => (listening = resolve));
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      if (text.includes('"msg":"listening"')) listening();
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  // Up when the functions server says it listens; down if the process exits first.
  await Promise.race([up, child.status]);
  assert(text.includes('"msg":"listening"'), `the stack did not come up:\n${text}`);
  return {
    output: () => text,
    stop: async () => {
      child.kill("SIGINT");
      const status = await child.status;
      await pumps;
      return status;
    },
  };
}

async function invokeExample(output: string) {
  const key = /service_role\s+(\S+)/.exec(output)?.[1];
  const restaurantId = /Demo restaurant (\S+)/.exec(output)?.[1];
  assert(key && restaurantId, "the start banner prints the service key and the demo restaurant");
  const supabase = createClient(`http://127.0.0.1:${port}`, key, {
    auth: { persistSession: false, autoRefreshToken: false },
  });
  const { data, error } = await supabase.functions.invoke("customers-upsert", {
    body: {
      restaurantId,
      name: "Smoke",
      email: "smoke@example.com",
      phone: "020 7946 0958",
      booking: { id: crypto.randomUUID(), covers: 2 },
    },
  });
  assertEquals(error, null);
  return data;
}

Deno.test("npm start: the stack serves the printed example, stops on Ctrl-C, keeps its data", async () => {
  await Deno.remove(".local/start-smoke", { recursive: true }).catch(() => {});
  const first = await start();
  assert(first.output().includes(`http://127.0.0.1:${port}/functions/v1/`));
  const one = await invokeExample(first.output());
  assertEquals([one.customer.email, one.customer.phone, one.profile.totalBookings], [
    "smoke@example.com",
    "+442079460958",
    1,
  ]);
  assertEquals((await first.stop()).code, 0);

  const second = await start();
  const two = await invokeExample(second.output());
  assertEquals([two.created, two.customer.id, two.profile.totalBookings], [
    false,
    one.customer.id,
    2,
  ]);
  assertEquals((await second.stop()).code, 0);
  await Deno.remove(".local/start-smoke", { recursive: true }).catch(() => {});
});
