// Assertions on top of node:assert (deno std is not reachable here).
import nodeAssert from "node:assert/strict";

export function assert(value: unknown, message?: string): asserts value {
  if (message === undefined) nodeAssert.ok(value);
  else nodeAssert.ok(value, message);
}

export function assertEquals<T>(
  actual: unknown,
  expected: T,
  message?: string,
): asserts actual is T {
  if (message === undefined) nodeAssert.deepStrictEqual(actual, expected);
  else nodeAssert.deepStrictEqual(actual, expected, message);
}

export function assertNotEquals(actual: unknown, expected: unknown, message?: string): void {
  if (message === undefined) nodeAssert.notDeepStrictEqual(actual, expected);
  else nodeAssert.notDeepStrictEqual(actual, expected, message);
}

/** Awaits `fn`, which must reject with an error that `check` accepts. */
export async function assertRejects<E = unknown>(
  fn: () => PromiseLike<unknown>,
  check: (error: E) => boolean,
  message?: string,
): Promise<void> {
  try {
    await fn();
  } catch (error) {
    nodeAssert.ok(check(error as E), `${message ?? "unexpected error"}: ${describe(error)}`);
    return;
  }
  nodeAssert.fail(`expected a rejection${message ? `: ${message}` : ""}`);
}

function describe(error: unknown): string {
  if (error && typeof error === "object") {
    const e = error as { name?: string; code?: string; status?: number; message?: string };
    return JSON.stringify({ name: e.name, code: e.code, status: e.status, message: e.message });
  }
  return String(error);
}
