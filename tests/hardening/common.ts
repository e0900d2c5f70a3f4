// Shared by the hardening suites: what a suite reports, and an HTTP caller
// that records every answer.

export interface Summary {
  suite: string;
  /** What was tried, in a few words. */
  tried: string;
  count: number;
  failures: string[];
}

export function printSummary(s: Summary): void {
  const failed = s.failures.length;
  console.log(
    `[${s.suite}] ${s.tried}: ${s.count.toLocaleString("en")} tried, ${failed} failed` +
      (failed ? `\n  - ${s.failures.slice(0, 10).join("\n  - ")}` : ""),
  );
}

export interface Answer {
  status: number;
  body: unknown;
  headers: Headers;
  ms: number;
}

/** POST a body to a function; never throws for HTTP statuses. */
export async function send(
  base: string,
  fn: string,
  body: BodyInit | null,
  headers: Record<string, string>,
  signal?: AbortSignal,
): Promise<Answer> {
  const started = performance.now();
  const response = await fetch(`${base}/functions/v1/${fn}`, {
    method: "POST",
    headers,
    body,
    signal,
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // Left as text: the caller checks the shape.
  }
  return {
    status: response.status,
    body: parsed,
    headers: response.headers,
    ms: performance.now() - started,
  };
}

export function jsonHeaders(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}`, "content-type": "application/json" };
}

/** True when `body` is the documented error shape with `code` (any code when omitted). */
export function isErrorShape(body: unknown, code?: string): boolean {
  if (typeof body !== "object" || body === null) return false;
  const error = (body as { error?: unknown }).error;
  if (typeof error !== "object" || error === null) return false;
  const e = error as Record<string, unknown>;
  const keysOk = Object.keys(e).every((k) =>
    ["code", "message", "details", "requestId"].includes(k)
  );
  return keysOk && typeof e.code === "string" && typeof e.message === "string" &&
    (code === undefined || e.code === code);
}

/** Run `work` over `items` with `clients` parallel workers, each taking the next item. */
export async function parallel<T>(
  items: T[],
  clients: number,
  work: (item: T, client: number) => Promise<void>,
) {
  let next = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      while (next < items.length) await work(items[next++], client);
    }),
  );
}
