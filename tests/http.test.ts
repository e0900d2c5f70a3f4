// The request pipeline without a server: error mapping, body limits, key
// lists, what a 500 may (not) reveal, the JWKS cache against a real local
// JWKS endpoint, and the local server's connection deadlines.
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { ConnectionClock } from "../scripts/deadlines.ts";
import {
  authConfigFromEnv,
  authenticate,
  parseKeyList,
} from "../supabase/functions/_shared/auth.ts";
import { toHttpError } from "../supabase/functions/_shared/db.ts";
import { endpoint } from "../supabase/functions/_shared/endpoint.ts";
import {
  errorResponse,
  HttpError,
  MAX_BODY_BYTES,
  readJson,
} from "../supabase/functions/_shared/http.ts";
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { SECRET_KEY } from "./helpers.ts";

const auth = authConfigFromEnv(new Map([["SUPABASE_SECRET_KEYS", SECRET_KEY]]));

function request(body: string | ReadableStream<Uint8Array>, headers: Record<string, string> = {}) {
  return new Request("http://local/functions/v1/x", {
    method: "POST",
    headers: { "content-type": "application/json", apikey: SECRET_KEY, ...headers },
    body,
  });
}

Deno.test("an unexpected failure is a 500 with a request id and nothing internal", async () => {
  const secretText = "relation customers_secret_table at /src/db.ts:12 ada@example.com";
  const handler = endpoint("probe", () => Promise.reject(new Error(secretText)), {
    auth,
    db: {} as never,
  });
  const originalError = console.error;
  const logged: string[] = [];
  console.error = (line: string) => logged.push(line);
  try {
    const response = await handler(request("{}", { "x-request-id": "req-123" }));
    const text = await response.text();
    assertEquals(response.status, 500);
    assertEquals(JSON.parse(text), {
      error: {
        code: "internal_error",
        message: "Something went wrong on our side.",
        requestId: "req-123",
      },
    });
    assert(!text.includes("customers_secret_table") && !text.includes("db.ts"));
    assertEquals(response.headers.get("x-request-id"), "req-123");
    assertEquals(logged.length, 1);
    assert(!logged[0].includes("ada@example.com"), "the log carries no error text");
    assertEquals(JSON.parse(logged[0]).status, 500);
  } finally {
    console.error = originalError;
  }
});

Deno.test("database errors map to stable HTTP errors", () => {
  const cases: Array<[Record<string, string>, number, string]> = [
    [{ code: "PT403", message: "forbidden" }, 403, "forbidden"],
    [{ code: "PT404", message: "customer_not_found" }, 404, "customer_not_found"],
    [{ code: "PT404", message: "restaurant_not_found" }, 404, "restaurant_not_found"],
    [{ code: "PT400", message: "invalid_request", detail: "x" }, 400, "invalid_request"],
    [{ code: "ECONNREFUSED" }, 503, "unavailable"],
    [{ code: "57P01" }, 503, "unavailable"],
    [{ code: "57014" }, 503, "unavailable"],
    [{ code: "08P01", message: "unsupported startup parameter" }, 503, "unavailable"],
    [{ code: "08006" }, 503, "unavailable"],
    [{ code: "QUERY_TIMEOUT" }, 503, "unavailable"],
    [{ message: "Connection terminated unexpectedly" }, 503, "unavailable"],
    [{ message: "timeout exceeded when trying to connect" }, 503, "unavailable"],
    [{ code: "22008", message: "date/time field value out of range" }, 400, "invalid_request"],
    [{ code: "23503", message: "violates foreign key constraint" }, 400, "invalid_request"],
    [{ code: "22009", message: "time zone displacement out of range" }, 400, "invalid_request"],
    [{ code: "22007", message: "invalid input syntax for type timestamp" }, 400, "invalid_request"],
    [{ code: "23505", message: "duplicate key (email)=(ada@example.com)" }, 500, "internal_error"],
    [{ code: "23514", message: "violates check constraint" }, 400, "invalid_request"],
    [{}, 500, "internal_error"],
  ];
  for (const [error, status, code] of cases) {
    const mapped = toHttpError(Object.assign(new Error(error.message ?? ""), error));
    assertEquals([mapped.status, mapped.code], [status, code], JSON.stringify(error));
    assert(!mapped.message.includes("ada@example.com"));
    if (status === 503) assertEquals(mapped.headers["retry-after"], "2");
  }
});

Deno.test("readJson: content type, size limit while streaming, UTF-8, JSON", async () => {
  assertEquals(await readJson(request('{"a":1}')), { a: 1 });
  assertEquals(
    await readJson(request('{"a":1}', { "content-type": "application/json; charset=utf-8" })),
    { a: 1 },
  );
  const fails = async (req: Request, status: number, code: string) =>
    await assertRejects(
      () => readJson(req),
      (e: HttpError) => e.status === status && e.code === code,
      code,
    );
  await fails(request("{}", { "content-type": "text/plain" }), 415, "unsupported_media_type");
  await fails(request("x".repeat(MAX_BODY_BYTES + 1)), 413, "payload_too_large");
  // A body sent in chunks with no Content-Length is cut off at the limit too.
  const chunk = new TextEncoder().encode("x".repeat(16 * 1024));
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      sent++;
      controller.enqueue(chunk);
      if (sent > 100) controller.close();
    },
  });
  await fails(request(stream), 413, "payload_too_large");
  assert(sent < 10, `read ${sent} chunks before stopping`);
  await fails(request("{"), 400, "invalid_json");
  await fails(request(""), 400, "invalid_json");
  // A client that gives up mid-body (the connection closes): a 400, never a 500.
  const cut = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode('{"restaurantId":'));
    },
    pull(controller) {
      controller.error(new Deno.errors.BadResource("connection closed"));
    },
  });
  await fails(request(cut), 400, "invalid_request");
});

Deno.test("key lists: JSON object, JSON array or comma list", () => {
  assertEquals(parseKeyList('{"default":"sb_secret_a","ci":"sb_secret_b"}'), [
    "sb_secret_a",
    "sb_secret_b",
  ]);
  assertEquals(parseKeyList('["sb_secret_a"]'), ["sb_secret_a"]);
  assertEquals(parseKeyList("sb_secret_a, sb_secret_b"), ["sb_secret_a", "sb_secret_b"]);
  assertEquals(parseKeyList(undefined), []);
});

Deno.test("HttpError: status, code and message, with details, headers and cause as options", async () => {
  const cause = new Error("connection reset by ada@example.com");
  const error = new HttpError(503, "unavailable", "Try again.", {
    headers: { "retry-after": "2" },
    details: [{ path: "x", message: "y" }],
    cause,
  });
  assertEquals(error.cause, cause);
  const response = errorResponse(error, "req-1");
  assertEquals(response.headers.get("retry-after"), "2");
  const text = await response.text();
  assertEquals(JSON.parse(text), {
    error: {
      code: "unavailable",
      message: "Try again.",
      details: [{ path: "x", message: "y" }],
      requestId: "req-1",
    },
  });
  assert(!text.includes("ada@example.com"), "the cause is never sent");
  assertEquals(new HttpError(404, "not_found", "No.").headers, {});
});

// --- JWKS -------------------------------------------------------------------

/** A JWKS endpoint on a real local port whose answer can change; it counts its hits. */
function jwksEndpoint() {
  const state = { hits: 0, answer: () => new Response("down", { status: 503 }) };
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, () => {
    state.hits++;
    return state.answer();
  });
  return { state, url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

async function signingKey(kid: string) {
  const pair = await generateKeyPair("RS256", { extractable: true });
  const jwk = { ...(await exportJWK(pair.publicKey)), kid, alg: "RS256", use: "sig" };
  // Each token is new text (jti), so the verified-token cache never answers for the JWKS.
  const sign = (
    claims: Record<string, unknown> = { role: "service_role" },
    expires: string | number = "1h",
  ) =>
    new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid }).setIssuer("supabase")
      .setJti(crypto.randomUUID()).setExpirationTime(expires).sign(pair.privateKey);
  return { jwk, sign };
}

function publish(state: { answer: () => Response }, keys: unknown[]) {
  state.answer = () => Response.json({ keys });
}

/** authenticate() against the endpoint, with a clock the test moves; the status it ends in. */
function verifier(url: string) {
  const clock = { now: 0 };
  const auth = authConfigFromEnv(new Map([["SUPABASE_URL", url]]), { now: () => clock.now });
  const status = async (token: string) => {
    try {
      await authenticate(
        new Request("http://local/", { headers: { authorization: `Bearer ${token}` } }),
        auth,
      );
      return 200;
    } catch (error) {
      if (error instanceof HttpError) return error.status;
      throw error;
    }
  };
  return { clock, status };
}

Deno.test("JWKS: a kid missing from the set refetches at most once per cooldown; a rotated key is then found", async () => {
  const endpoint = jwksEndpoint();
  try {
    const current = await signingKey("current");
    const next = await signingKey("next");
    publish(endpoint.state, [current.jwk]);
    const { clock, status } = verifier(endpoint.url);
    assertEquals(await status(await current.sign()), 200);
    assertEquals(endpoint.state.hits, 1);
    // 50 forged kids and a key not published yet: 401, no fetch within the cooldown.
    const attacker = await generateKeyPair("RS256");
    const forged = await Promise.all(Array.from({ length: 50 }, async () =>
      status(
        await new SignJWT({ role: "service_role" })
          .setProtectedHeader({ alg: "RS256", kid: crypto.randomUUID() }).setIssuer("supabase")
          .setExpirationTime("1h").sign(attacker.privateKey),
      )));
    assertEquals(new Set(forged), new Set([401]));
    assertEquals(await status(await next.sign()), 401);
    assertEquals(endpoint.state.hits, 1);
    publish(endpoint.state, [current.jwk, next.jwk]);
    clock.now = 29_000;
    assertEquals(await status(await next.sign()), 401);
    assertEquals(endpoint.state.hits, 1);
    clock.now = 31_000;
    assertEquals(await status(await next.sign()), 200);
    assertEquals(endpoint.state.hits, 2);
  } finally {
    await endpoint.close();
  }
});

Deno.test("JWKS: a failing endpoint is asked again only after a backoff; junk never causes a fetch", async () => {
  const endpoint = jwksEndpoint();
  try {
    const key = await signingKey("k1");
    const { clock, status } = verifier(endpoint.url);
    // The endpoint answers 503: the key cannot be found, which is a 401.
    assertEquals(await status(await key.sign()), 401);
    assertEquals(endpoint.state.hits, 1);
    clock.now = 1000;
    const again = await Promise.all(
      Array.from({ length: 20 }, async () => status(await key.sign())),
    );
    assertEquals(new Set(again), new Set([401]));
    assertEquals(endpoint.state.hits, 1);
    // Tokens that no key could make valid are refused before any fetch.
    clock.now = 60_000;
    const junk = [
      await key.sign({}), // no role
      await key.sign({ role: "service_role" }, Math.floor(Date.now() / 1000) - 3600), // expired
      "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.e30.c2ln",
    ];
    for (const token of junk) assertEquals(await status(token), 401);
    assertEquals(endpoint.state.hits, 1);
    // Back up: the next token after the backoff fetches, and verifies.
    publish(endpoint.state, [key.jwk]);
    assertEquals(await status(await key.sign()), 200);
    assertEquals(endpoint.state.hits, 2);
  } finally {
    await endpoint.close();
  }
});

Deno.test("JWKS: the last good key set keeps verifying while the endpoint is down", async () => {
  const endpoint = jwksEndpoint();
  try {
    const key = await signingKey("k1");
    publish(endpoint.state, [key.jwk]);
    const { clock, status } = verifier(endpoint.url);
    assertEquals(await status(await key.sign()), 200);
    endpoint.state.answer = () => new Response("down", { status: 500 });
    // Stale after 10 minutes: one refresh is tried, fails, and the old set answers.
    clock.now = 11 * 60_000;
    assertEquals(await status(await key.sign()), 200);
    assertEquals(endpoint.state.hits, 2);
    clock.now += 1000;
    assertEquals(await status(await key.sign()), 200);
    assertEquals(endpoint.state.hits, 2);
  } finally {
    await endpoint.close();
  }
});

// --- the local server's deadlines ------------------------------------------------

Deno.test("connection deadlines: headers, then the answer, then idle, each on its own clock", () => {
  const clock = new ConnectionClock(0, { headerMs: 100, requestMs: 300, idleMs: 200 });
  const bytes = (text: string) => new TextEncoder().encode(text);
  assertEquals(clock.expired(200), null);
  assertEquals(clock.expired(201), "idle");
  // A request starts with its first byte; its blank line may be split across reads.
  clock.request(bytes("POST / HTTP/1.1\r\nhost: x\r\n\r"), 1000);
  assertEquals(clock.expired(1101), "headers");
  clock.request(bytes("\n{"), 1050);
  assertEquals(clock.expired(1101), null);
  assertEquals(clock.expired(1301), "request");
  clock.answer(1200);
  assertEquals(clock.expired(1400), null);
  assertEquals(clock.expired(1401), "idle");
});

Deno.test("connection deadlines: the blank line ending the headers is found however it is split or preceded", () => {
  const bytes = (text: string) => new TextEncoder().encode(text);
  const ended = (reads: string[]) => {
    const clock = new ConnectionClock(0, { headerMs: 100, requestMs: 300, idleMs: 200 });
    for (const read of reads) clock.request(bytes(read), 0);
    // Past the header deadline but not the request's: ended headers say null.
    return clock.expired(150) === null;
  };
  assertEquals(ended(["GET / HTTP/1.1\r\nhost: x\r\n\r\n"]), true);
  assertEquals(ended(["GET / HTTP/1.1\r\nhost: x\r", "\n", "\r", "\n"]), true);
  assertEquals(ended(["GET / HTTP/1.1\r\nhost: x\r\r\n\r\n"]), true, "a stray CR first");
  assertEquals(ended(["GET / HTTP/1.1\r\nhost: x\r\n\r\r\n\r\n"]), true, "a CR where LF was due");
  assertEquals(ended(["GET / HTTP/1.1\r\nhost: x\r\n"]), false);
  assertEquals(ended(["GET / HTTP/1.1\r\nhost: x\n\n"]), false, "bare LFs are not the blank line");
  assertEquals(ended(["GET / HTTP/1.1\r\nhost: x\r\n\n\r\n"]), false);
});
