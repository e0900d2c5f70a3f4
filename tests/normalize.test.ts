import { assert, assertEquals } from "./assert.ts";
import fc from "fast-check";
import {
  isInternational,
  normalizeEmail,
  normalizeName,
  normalizePhone,
} from "../supabase/functions/_shared/normalize.ts";

// The database's CHECK constraints, mirrored: every normalized value must pass them.
const DB_EMAIL = /^[^@\s]{1,64}@[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/;
const DB_E164 = /^\+[1-9][0-9]{6,14}$/;

function email(input: string) {
  const r = normalizeEmail(input);
  return r.ok ? r.value.normalized : null;
}
function phone(input: string, region: string | null) {
  const r = normalizePhone(input, region);
  return r.ok ? r.value.e164 : null;
}

Deno.test("email: trimmed, lower-cased, IDN domain in ASCII", () => {
  assertEquals(email("  Ada.Lovelace@Example.COM "), "ada.lovelace@example.com");
  assertEquals(email("chef@Bücher.de"), "chef@xn--bcher-kva.de");
  assertEquals(email("a@b.co."), "a@b.co");
  const r = normalizeEmail("  Ada@Example.com ");
  assert(r.ok);
  assertEquals(r.value.display, "Ada@Example.com");
});

Deno.test("email: malformed addresses are refused with a reason", () => {
  for (
    const bad of [
      "",
      "  ",
      "ada",
      "@example.com",
      "ada@",
      "ada@localhost",
      "a b@c.de",
      "a@b_c.de",
      "a\u0000@b.de",
      "a@-b.de",
    ]
  ) {
    const r = normalizeEmail(bad);
    assert(!r.ok, `accepted ${JSON.stringify(bad)}`);
    assert(r.reason.length > 0);
  }
  assertEquals(email(`${"a".repeat(65)}@b.de`), null);
});

Deno.test("email: one identity whatever the Unicode form, without invisible characters", () => {
  const jose = "josé@example.com";
  for (
    const spelling of [
      "José@example.com", // composed (NFC)
      "Jose\u0301@example.com", // decomposed (NFD)
      "jos\u200bé@example.com", // zero-width space
      "\ufeffJOSÉ@Example.com", // BOM
      "jo\u00adsé\u200d@example.com", // soft hyphen, zero-width joiner
      "\u2060jos\u200cé\u200e@example.com", // word joiner, non-joiner, LRM
    ]
  ) {
    assertEquals(email(spelling), jose, JSON.stringify(spelling));
  }
  assertEquals(email("jose\u200b@example.com"), "jose@example.com");
  const r = normalizeEmail("Jose\u0301\u200b@Example.com");
  assert(r.ok);
  assertEquals(r.value.display, "José@Example.com");
  assert(!normalizeEmail("\u200b\u200b@example.com").ok, "an invisible name part is no name part");
});

Deno.test("phone: national, international and 00 forms meet on one E.164 number", () => {
  const forms = [
    "020 7946 0958",
    "+44 20 7946 0958",
    "0044 20 7946 0958",
    "(020) 7946-0958",
    "+44 (0)20 7946 0958",
    "00442079460958",
  ];
  for (const form of forms) assertEquals(phone(form, "GB"), "+442079460958", form);
  assertEquals(phone("(415) 555-2671", "US"), "+14155552671");
  assertEquals(phone("00 1 415 555 2671", "US"), "+14155552671");
  assertEquals(phone("06 12 34 56 78", "FR"), "+33612345678");
  assertEquals(phone("+33 6 12 34 56 78", "US"), "+33612345678");
  // The region decides what a national number means.
  assertEquals(phone("0612345678", "FR"), "+33612345678");
  assertEquals(phone("0612345678", "GB"), null);
});

Deno.test("phone: unparseable and impossible numbers are refused, never digit-stripped", () => {
  for (
    const bad of [
      "",
      "abc",
      "12",
      "+44 20",
      "020 7946 0958 ext 12",
      "+999 123 456 789",
      "1-800-FLOWERS",
      "+",
      "0000000000",
    ]
  ) {
    assertEquals(phone(bad, "GB"), null, bad);
  }
  const r = normalizePhone("020 7946 0958", null);
  assert(!r.ok, "a national number needs a region");
  assertEquals(phone("+44 20 7946 0958", null), "+442079460958");
});

Deno.test("phone: reports the region it used (null for international numbers)", () => {
  const national = normalizePhone("020 7946 0958", "GB");
  assert(national.ok);
  assertEquals(national.value.region, "GB");
  assertEquals(national.value.display, "+44 20 7946 0958");
  const intl = normalizePhone("+44 20 7946 0958", "GB");
  assert(intl.ok);
  assertEquals(intl.value.region, null);
  assert(isInternational(" 0044 1"));
  assert(!isInternational("020"));
});

Deno.test("name: trimmed, composed (NFC), blank is absent, otherwise verbatim", () => {
  assertEquals(normalizeName('  O\'Brien "Chef" '), 'O\'Brien "Chef"');
  assertEquals(normalizeName("Jose\u0301 U\u0308nal"), "José Ünal");
  assertEquals(normalizeName("Zoë \u202e Ünal"), "Zoë \u202e Ünal");
  assertEquals(normalizeName("   "), null);
  assertEquals(normalizeName(undefined), null);
});

// --- properties -------------------------------------------------------------

const localChar = fc.constantFrom(
  ..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-",
);
const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
const emailArb = fc.tuple(
  fc.string({ unit: localChar, minLength: 1, maxLength: 20 }),
  fc.array(label, { minLength: 2, maxLength: 4 }),
).map(([local, labels]) => `${local}@${labels.join(".")}`);
const spaces = fc.string({ unit: fc.constantFrom(" ", "\t"), maxLength: 3 });

Deno.test("property: email normalization is idempotent and case/space-insensitive", () => {
  fc.assert(
    fc.property(emailArb, spaces, spaces, fc.boolean(), (address, before, after, upper) => {
      const base = email(address);
      if (base === null) return;
      assert(DB_EMAIL.test(base), base);
      assertEquals(email(base), base);
      const variant = before + (upper ? address.toUpperCase() : address) + after;
      assertEquals(email(variant), base);
    }),
    { seed: 42, numRuns: 500 },
  );
});

Deno.test("property: invisible characters anywhere in the name part change nothing", () => {
  const invisible = fc.constantFrom(
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",
    "\u00ad",
    "\u200e",
  );
  fc.assert(
    fc.property(
      emailArb,
      fc.array(fc.tuple(fc.nat(), invisible), { maxLength: 4 }),
      (address, inserts) => {
        const base = email(address);
        if (base === null) return;
        const at = address.lastIndexOf("@");
        let local = address.slice(0, at);
        for (const [position, char] of inserts) {
          const i = position % (local.length + 1);
          local = local.slice(0, i) + char + local.slice(i);
        }
        assertEquals(email(`${local}${address.slice(at)}`), base);
      },
    ),
    { seed: 11, numRuns: 500 },
  );
});

Deno.test("property: any email the normalizer accepts passes the database CHECK", () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 80 }), (input) => {
      const out = email(input);
      if (out !== null) assert(DB_EMAIL.test(out) && out === out.toLowerCase(), out);
    }),
    { seed: 7, numRuns: 2000 },
  );
});

// Valid national numbers per region, written in their national form.
const NATIONAL: Array<[string, string, string]> = [
  ["GB", "02079460958", "+442079460958"],
  ["GB", "07912345678", "+447912345678"],
  ["US", "4155552671", "+14155552671"],
  ["FR", "0612345678", "+33612345678"],
  ["DE", "030123456", "+4930123456"],
  ["AU", "0412345678", "+61412345678"],
];
const separator = fc.constantFrom("", " ", "-", ".", " ");

Deno.test("property: formatting never changes the E.164 result", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...NATIONAL),
      fc.array(separator, { minLength: 15, maxLength: 15 }),
      fc.constantFrom("national", "plus", "double-zero"),
      ([region, national, e164], seps, form) => {
        const digits = form === "national" ? national : e164.slice(1);
        const spaced = [...digits].map((d, i) => d + (seps[i] ?? "")).join("").trim();
        const text = form === "plus"
          ? `+${spaced}`
          : form === "double-zero"
          ? `00${spaced}`
          : spaced;
        assertEquals(phone(text, region), e164, text);
      },
    ),
    { seed: 1234, numRuns: 1000 },
  );
});

Deno.test("property: accepted phones are E.164, stable, and region-independent once international", () => {
  const regions = ["GB", "US", "FR", "DE", "AU", "JP", "BR", "IN"];
  fc.assert(
    fc.property(
      fc.stringMatching(/^\+?[0-9 ()-]{1,20}$/),
      fc.constantFrom(...regions),
      fc.constantFrom(...regions),
      (input, region, other) => {
        const out = phone(input, region);
        if (out === null) return;
        assert(DB_E164.test(out), out);
        assertEquals(phone(out, other), out);
      },
    ),
    { seed: 99, numRuns: 3000 },
  );
});
