// The request pipeline without a server: error mapping, body limits, key
// lists, and what a 500 may (not) reveal.
import { authConfigFromEnv, parseKeyList } from "../supabase/functions/_shared/auth.ts";
import { toHttpError } from "../supabase/functions/_shared/db.ts";
import { endpoint } from "../supabase/functions/_shared/endpoint.ts";
import { HttpError, MAX_BODY_BYTES, readJson } from "../supabase/functions/_shared/http.ts";
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { SECRET_KEY } from "./helpers.ts";

const auth = authConfigFromEnv(new Map([["SUPABASE_SECRET_KEYS", SECRET_KEY]]));

function request(body: string, headers: Record<string, string> = {}) {
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
  await fails(
    new Request("http://local/", {
      method: "POST",
      body: stream,
      headers: { "content-type": "application/json" },
    }),
    413,
    "payload_too_large",
  );
  assert(sent < 10, `read ${sent} chunks before stopping`);
  await fails(request("{"), 400, "invalid_json");
  await fails(request(""), 400, "invalid_json");
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
