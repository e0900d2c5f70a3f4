// Tokens already verified, by their exact text: a busy caller sends the same
// token on every request, and checking a signature each time is wasted work.
import type { JWTPayload } from "jose";

const MAX_ENTRIES = 1000;
// A verified token is trusted again for at most this long (or until it
// expires), so a revoked signing key stops working within a minute.
const TTL_MS = 60_000;

export class VerifiedTokens<C extends JWTPayload> {
  readonly #entries = new Map<string, { claims: C; until: number }>();

  constructor(private readonly clockToleranceS: number) {}

  get(token: string, now: number): C | null {
    const known = this.#entries.get(token);
    if (!known) return null;
    if (now <= known.until) return known.claims;
    this.#entries.delete(token);
    return null;
  }

  set(token: string, claims: C, now: number): void {
    // Oldest first out: a Map iterates in insertion order.
    if (this.#entries.size >= MAX_ENTRIES) this.#entries.delete(this.#entries.keys().next().value!);
    const expires = ((claims.exp ?? 0) + this.clockToleranceS) * 1000;
    this.#entries.set(token, { claims, until: Math.min(expires, now + TTL_MS) });
  }
}
