// Canonical forms of guest contacts that need no phone metadata: emails,
// names, and telling an international phone number from a national one.
// Phone numbers are in normalize_phone.ts, loaded only when a request
// carries one (see customers.ts); normalize.ts offers both.
import { domainToASCII } from "node:url";

export type Result<T> = { ok: true; value: T } | { ok: false; reason: string };

export interface NormalizedEmail {
  /** As given, trimmed, in NFC, without invisible characters: what staff see. */
  display: string;
  /** Lower-cased, name part in NFC, domain in ASCII (IDNA): the identity. */
  normalized: string;
}

// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// Characters that render as nothing: zero-width space and joiners, word
// joiner, BOM, soft hyphen, bidi marks and embeddings, variation selectors,
// tags… (Unicode's Default_Ignorable_Code_Point). Pasted or typed into an
// address, they would make one guest's email into another identity.
const INVISIBLE = /\p{Default_Ignorable_Code_Point}/gu;
const LOCAL_PART = /^[^@\s]{1,64}$/;
const LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

/**
 * Trim, drop invisible characters, compose (NFC: "é" typed as e + U+0301 is
 * "é"), lower-case and turn an internationalized domain into ASCII.
 */
export function normalizeEmail(input: string): Result<NormalizedEmail> {
  const display = input.replace(INVISIBLE, "").normalize("NFC").trim();
  if (display === "") return { ok: false, reason: "Email is empty." };
  if (display.length > 320) return { ok: false, reason: "Email is longer than 320 characters." };
  if (CONTROL.test(display)) return { ok: false, reason: "Email contains control characters." };
  const at = display.lastIndexOf("@");
  if (at <= 0 || at === display.length - 1) {
    return { ok: false, reason: "Email must look like name@domain." };
  }
  // Lower-casing can decompose (İ → i + U+0307): compose again.
  const local = display.slice(0, at).toLowerCase().normalize("NFC");
  const domainInput = display.slice(at + 1).toLowerCase().replace(/\.$/, "");
  if (!LOCAL_PART.test(local)) return { ok: false, reason: "Email's name part is not valid." };
  const domain = domainToASCII(domainInput);
  const labels = domain.split(".");
  if (
    domain === "" || domain.length > 253 || labels.length < 2 ||
    !labels.every((label) => label.length <= 63 && LABEL.test(label))
  ) {
    return { ok: false, reason: "Email's domain is not valid." };
  }
  return { ok: true, value: { display, normalized: `${local}@${domain}` } };
}

/** True when the number is written in international form (+ or 00). */
export function isInternational(input: string): boolean {
  const trimmed = input.trim();
  return trimmed.startsWith("+") || trimmed.startsWith("00");
}

/**
 * Trim a person's name and compose it (NFC), so one spelling is stored one
 * way; empty means absent. The text is kept otherwise. Control characters
 * never get here: the request schemas refuse them (API) or drop the name
 * (webhooks).
 */
export function normalizeName(input: string | null | undefined): string | null {
  if (input == null) return null;
  const trimmed = input.normalize("NFC").trim();
  return trimmed === "" ? null : trimmed;
}
