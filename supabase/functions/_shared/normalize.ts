// Canonical forms of guest contacts. The database's CHECK constraints accept
// only what these functions produce, so two spellings of one contact always
// meet on the same row.
import { domainToASCII } from "node:url";
import { type CountryCode, parsePhoneNumberFromString } from "libphonenumber-js/max";

export type Result<T> = { ok: true; value: T } | { ok: false; reason: string };

export interface NormalizedEmail {
  /** As given, trimmed: what staff see. */
  display: string;
  /** Lower-cased, domain in ASCII (IDNA): the identity. */
  normalized: string;
}

export interface NormalizedPhone {
  /** International format, e.g. "+44 20 7946 0958". */
  display: string;
  /** E.164, e.g. "+442079460958": the identity. */
  e164: string;
  /** The default country used, or null when the number was international. */
  region: string | null;
}

// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const LOCAL_PART = /^[^@\s]{1,64}$/;
const LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
// Digits and the punctuation people write phone numbers with; letters
// (vanity numbers) and extensions are refused rather than guessed at.
const PHONE_CHARS = /^\+?[0-9\s().\-\/]+$/;

/** Trim, lower-case and turn an internationalized domain into ASCII. */
export function normalizeEmail(input: string): Result<NormalizedEmail> {
  const display = input.trim();
  if (display === "") return { ok: false, reason: "Email is empty." };
  if (display.length > 320) return { ok: false, reason: "Email is longer than 320 characters." };
  if (CONTROL.test(display)) return { ok: false, reason: "Email contains control characters." };
  const at = display.lastIndexOf("@");
  if (at <= 0 || at === display.length - 1) {
    return { ok: false, reason: "Email must look like name@domain." };
  }
  const local = display.slice(0, at).toLowerCase();
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
 * Parse a phone number to E.164. National numbers use `region` (the
 * restaurant's default country); `00` is read as the international prefix
 * whatever the region. Numbers that are not valid for their country are
 * refused, never digit-stripped.
 */
export function normalizePhone(input: string, region: string | null): Result<NormalizedPhone> {
  const trimmed = input.trim();
  if (trimmed === "") return { ok: false, reason: "Phone is empty." };
  if (trimmed.length > 40) return { ok: false, reason: "Phone is longer than 40 characters." };
  if (!PHONE_CHARS.test(trimmed)) {
    return { ok: false, reason: "Phone may contain only digits, spaces, + and ( ) . - /." };
  }
  const international = isInternational(trimmed);
  const text = trimmed.startsWith("00") ? `+${trimmed.slice(2)}` : trimmed;
  if (!international && region === null) {
    return { ok: false, reason: "Phone is in national format but no default country is known." };
  }
  const parsed = parsePhoneNumberFromString(
    text,
    international ? undefined : { defaultCountry: region as CountryCode },
  );
  if (!parsed || !parsed.isValid()) {
    return { ok: false, reason: "Phone is not a valid number." };
  }
  return {
    ok: true,
    value: {
      display: parsed.formatInternational(),
      e164: parsed.number,
      region: international ? null : region,
    },
  };
}

/** Trim a person's name; empty means absent. The text is kept verbatim otherwise. */
export function normalizeName(input: string | null | undefined): string | null {
  if (input == null) return null;
  const trimmed = input.trim();
  return trimmed === "" ? null : trimmed;
}
