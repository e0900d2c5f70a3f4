// Supabase API keys (sb_secret_…, sb_publishable_…): how the environment
// lists them, and a constant-time check of a presented key against them.
import { createHash, timingSafeEqual } from "node:crypto";

export const SECRET_KEY_PREFIX = "sb_secret_";
export const PUBLISHABLE_KEY_PREFIX = "sb_publishable_";

/** Keys come as a JSON object ({"default": "sb_secret_…"}), a JSON array or a comma list. */
export function parseKeyList(value: string | undefined): string[] {
  if (!value || value.trim() === "") return [];
  const text = value.trim();
  if (text.startsWith("{") || text.startsWith("[")) {
    const parsed = JSON.parse(text);
    const values = Array.isArray(parsed) ? parsed : Object.values(parsed);
    return values.filter((v): v is string => typeof v === "string" && v !== "");
  }
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}

/** True for text in the format of a Supabase API key (genuine or not). */
export function isApiKey(text: string): boolean {
  return text.startsWith(SECRET_KEY_PREFIX) || text.startsWith(PUBLISHABLE_KEY_PREFIX);
}

// Keys are compared as SHA-256 digests: fixed length, so the comparison is
// constant-time whatever the candidate's length.
export function digestKey(key: string): Uint8Array {
  return new Uint8Array(createHash("sha256").update(key, "utf8").digest());
}

/** Whether `candidate` is one of the keys whose digests are given; every digest is compared. */
export function matchesKey(candidate: string, digests: Uint8Array[]): boolean {
  const digest = digestKey(candidate);
  let found = false;
  for (const known of digests) found = timingSafeEqual(digest, known) || found;
  return found;
}
