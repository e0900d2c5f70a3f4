// The project's published signing keys (JWKS), fetched over HTTP. jose's
// remote key set refetches on every use while its endpoint fails, so a stream
// of tokens meant one fetch each. Here:
// - one fetch at a time, shared by the requests waiting on it;
// - a failed fetch is remembered for `failureBackoffMs`: no refetch before;
// - a kid missing from a good set refetches at most once per `cooldownMs`,
//   so forged kids cannot drive fetches (key rotation still shows up);
// - the last good set keeps verifying through an outage of the endpoint.
import {
  createLocalJWKSet,
  errors as joseErrors,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWSHeaderParameters,
  type JWTVerifyGetKey,
} from "jose";

/** No key set has been obtained yet and the endpoint is failing: no key can be found. */
export class KeysUnavailable extends Error {
  constructor(cause?: unknown) {
    super("The signing keys could not be fetched.", { cause });
    this.name = "KeysUnavailable";
  }
}

export interface RemoteKeySetOptions {
  /** Deadline of one fetch (ms). */
  timeoutMs?: number;
  /** Least time between two fetches caused by an unknown kid (ms). */
  cooldownMs?: number;
  /** Least time after a failed fetch before the next one (ms). */
  failureBackoffMs?: number;
  /** A set older than this is refreshed on its next use (ms). */
  maxAgeMs?: number;
  /** The clock, for tests of the timing rules. */
  now?: () => number;
}

type LocalSet = ReturnType<typeof createLocalJWKSet>;

export function remoteKeySet(url: URL, options: RemoteKeySetOptions = {}): JWTVerifyGetKey {
  const timeoutMs = options.timeoutMs ?? 3000;
  const cooldownMs = options.cooldownMs ?? 30_000;
  const failureBackoffMs = options.failureBackoffMs ?? 5000;
  const maxAgeMs = options.maxAgeMs ?? 10 * 60_000;
  const now = options.now ?? Date.now;

  let local: LocalSet | null = null;
  let fetchedAt = -Infinity;
  let attemptedAt = -Infinity;
  let failure: unknown = null;
  let pending: Promise<void> | null = null;

  /** Whether a new fetch may start now, for a set that is `wanted` for this reason. */
  const mayFetch = (reason: "missing" | "stale" | "unknown kid") => {
    const since = now() - attemptedAt;
    if (failure !== null) return since >= failureBackoffMs;
    return reason === "unknown kid" ? since >= cooldownMs : true;
  };

  const refresh = (): Promise<void> => {
    pending ??= (async () => {
      attemptedAt = now();
      try {
        const response = await fetch(url, {
          headers: { accept: "application/json" },
          redirect: "manual",
          signal: AbortSignal.timeout(timeoutMs),
        });
        if (response.status !== 200) {
          await response.body?.cancel();
          throw new Error(`JWKS answered ${response.status}`);
        }
        const next = createLocalJWKSet(await response.json() as JSONWebKeySet);
        local = next;
        fetchedAt = now();
        failure = null;
      } catch (error) {
        failure = error;
      } finally {
        pending = null;
      }
    })();
    return pending;
  };

  return async (header: JWSHeaderParameters, token: FlattenedJWSInput) => {
    if (pending) await pending;
    else if (local === null && mayFetch("missing")) await refresh();
    else if (now() - fetchedAt > maxAgeMs && mayFetch("stale")) await refresh();
    if (local === null) throw new KeysUnavailable(failure);
    try {
      return await local(header, token);
    } catch (error) {
      if (!(error instanceof joseErrors.JWKSNoMatchingKey) || !mayFetch("unknown kid")) throw error;
    }
    // The kid may belong to a key published since the last fetch.
    await refresh();
    return await local(header, token);
  };
}
