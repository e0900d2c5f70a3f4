// Canonical forms of guest contacts. The database's CHECK constraints accept
// only what these functions produce, so two spellings of one contact always
// meet on the same row. The request path imports the two halves itself, so
// that libphonenumber loads only for a phone number; anything else may use
// this module for both.
export * from "./normalize_core.ts";
export * from "./normalize_phone.ts";
