// Phone numbers to E.164 with libphonenumber and its metadata, the largest
// module a request may need (~20 ms to load at a cold start): customers.ts
// imports this module only when a request carries a phone number.
import { type CountryCode, parsePhoneNumberFromString } from "libphonenumber-js/max";
import { isInternational, type Result } from "./normalize_core.ts";

export interface NormalizedPhone {
  /** International format, e.g. "+44 20 7946 0958". */
  display: string;
  /** E.164, e.g. "+442079460958": the identity. */
  e164: string;
  /** The default country used, or null when the number was international. */
  region: string | null;
}

// Digits and the punctuation people write phone numbers with; letters
// (vanity numbers) and extensions are refused rather than guessed at.
const PHONE_CHARS = /^\+?[0-9\s().\-\/]+$/;

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
