// Request schemas: the one source of the request types. Objects are strict,
// so a misspelt field is refused by name instead of being silently dropped.
import { z } from "zod";
import { type ErrorDetail, HttpError } from "./http.ts";

// No C0/C1 control characters (NUL included): Postgres cannot store NUL and
// nobody types the rest into a name or an address.
// deno-lint-ignore no-control-regex
const NO_CONTROL = /^[^\u0000-\u001f\u007f-\u009f]*$/;

const id = z.guid("Must be a UUID.").transform((s) => s.toLowerCase());
const text = (max: number) =>
  z.string().max(max, `At most ${max} characters.`).regex(
    NO_CONTROL,
    "Must not contain control characters.",
  );
const isoDateTime = z.iso.datetime({ offset: true });
// Postgres refuses year 0000 (22008), an offset beyond ±15:59 (22009) and an
// overlong field such as a 60,000-digit fraction (22007); zod's ISO format
// allows all three. Nothing reaches SQL that it would refuse.
const DATE_TIME_PARTS = /^(\d{4})-.*?(?:\.(\d+))?(?:Z|[+-](\d{2}):\d{2})$/i;

/** Why a date-time cannot be stored, or null when it can. */
export function timestampProblem(value: string): string | null {
  if (!isoDateTime.safeParse(value).success) {
    return "Must be an ISO 8601 date-time with an offset, e.g. 2026-12-24T19:30:00Z.";
  }
  const [, year, fraction, offsetHours] = DATE_TIME_PARTS.exec(value)!;
  if (year === "0000") return "The year must be between 0001 and 9999.";
  if (fraction !== undefined && fraction.length > 9) {
    return "At most 9 digits after the decimal point of the seconds.";
  }
  if (offsetHours !== undefined && Number(offsetHours) > 15) {
    return "The offset from UTC must be within ±15:59.";
  }
  return null;
}

const timestamp = z.string().check((ctx) => {
  const problem = timestampProblem(ctx.value);
  if (problem) ctx.issues.push({ code: "custom", message: problem, input: ctx.value });
});

const contactFields = {
  email: text(320).nullish(),
  phone: text(40).nullish(),
};

function hasText(value: string | null | undefined): value is string {
  return typeof value === "string" && value.trim() !== "";
}

export const BOOKING_STATUSES = [
  "pending",
  "confirmed",
  "cancelled",
  "completed",
  "no_show",
] as const;
const status = z.enum(BOOKING_STATUSES, `One of ${BOOKING_STATUSES.join(", ")}.`);
const covers = z.int("Must be a whole number.").min(1, "At least 1.").max(1000, "At most 1000.");

export const bookingSchema = z.strictObject({
  id,
  covers,
  startsAt: timestamp.nullish(),
  /** Default confirmed. */
  status: status.nullish(),
  /** The snapshot's version; default: when the request was received. */
  updatedAt: timestamp.nullish(),
});

export const CHANNELS = ["email", "sms"] as const;
export const CONSENT_SOURCES = ["booking", "staff", "import", "unsubscribe_link", "api"] as const;
const channel = z.enum(CHANNELS, "One of email, sms.");
const consentSource = z.enum(CONSENT_SOURCES, `One of ${CONSENT_SOURCES.join(", ")}.`);
// The restaurant's own text shown to the guest: never the guest's data.
const wording = text(2000).trim().min(1, "Must not be empty.");

/** A grant an upsert brings, with its evidence. */
export const consentGrantSchema = z.strictObject({
  channel,
  granted: z.literal(true, "An upsert only grants; withdraw with customer-consent."),
  source: consentSource.nullish(),
  wording: wording.nullish(),
});

export const upsertRequestSchema = z.strictObject({
  restaurantId: id,
  name: text(200).nullish(),
  ...contactFields,
  marketingOptIn: z.boolean("Must be true or false.").default(false),
  consent: z.array(consentGrantSchema).max(4, "At most 4 grants.").nullish(),
  booking: bookingSchema.nullish(),
}).refine((r) => hasText(r.email) || hasText(r.phone), {
  message: "Give at least one of email or phone.",
  path: ["email"],
});

export const cancelRequestSchema = z.strictObject({
  restaurantId: id,
  bookingId: id,
  customerId: id.nullish(),
  ...contactFields,
  cancelledAt: timestamp.nullish(),
}).refine((r) => r.customerId != null || hasText(r.email) || hasText(r.phone), {
  message: "Name the customer by customerId, email or phone.",
  path: ["customerId"],
});

export const bookingUpdateRequestSchema = z.strictObject({
  restaurantId: id,
  bookingId: id,
  status: status.nullish(),
  covers: covers.nullish(),
  startsAt: timestamp.nullish(),
  updatedAt: timestamp.nullish(),
}).refine((r) => r.status != null || r.covers != null || r.startsAt != null, {
  message: "Give at least one of status, covers or startsAt.",
  path: ["status"],
});

export const lookupRequestSchema = z.strictObject({
  restaurantId: id,
  customerId: id.nullish(),
  ...contactFields,
}).refine((r) => r.customerId != null || hasText(r.email) || hasText(r.phone), {
  message: "Give a customerId, an email or a phone.",
  path: ["customerId"],
});

export const exportRequestSchema = z.strictObject({
  restaurantId: id,
  customerId: id,
});

export const eraseRequestSchema = z.strictObject({
  restaurantId: id,
  customerId: id,
  /** A code, never free text: the erasure record must hold no guest data. */
  reason: z.string().regex(
    /^[a-z][a-z0-9_]{0,39}$/,
    "A code: lower-case letters, digits and _, at most 40 characters.",
  ).nullish(),
  force: z.boolean("Must be true or false.").nullish(),
});

/** customers-merge: 1 to 3 sources into a target, one transaction. */
export const mergeRequestSchema = z.strictObject({
  restaurantId: id,
  targetId: id,
  sourceIds: z.array(id).min(1, "At least 1 id.").max(3, "At most 3 ids."),
});

/** customers-unmerge: undo one merge. */
export const unmergeRequestSchema = z.strictObject({
  restaurantId: id,
  mergeId: id,
});

/** customer-duplicates: a page of candidate pairs, or dismiss one pair. */
export const duplicatesRequestSchema = z.strictObject({
  restaurantId: id,
  limit: z.int("Must be a whole number.").min(1, "At least 1.").max(100, "At most 100.").nullish(),
  cursor: z.string().max(400, "At most 400 characters.").regex(/^[0-9a-f]*$/, "Not a cursor.")
    .nullish(),
  dismiss: z.array(id).length(2, "Exactly 2 ids.").nullish(),
}).refine((r) => r.dismiss == null || (r.limit == null && r.cursor == null), {
  message: "dismiss goes without limit and cursor.",
  path: ["dismiss"],
});

/** customer-consent: a grant or withdrawal by staff or a service. */
export const consentRequestSchema = z.strictObject({
  restaurantId: id,
  customerId: id.nullish(),
  ...contactFields,
  channel,
  granted: z.boolean("Must be true or false."),
  source: consentSource.nullish(),
  wording: wording.nullish(),
}).refine((r) => r.customerId != null || hasText(r.email) || hasText(r.phone), {
  message: "Name the customer by customerId, email or phone.",
  path: ["customerId"],
});

/** customer-consent: a one-click unsubscribe, from anyone holding the link. */
export const unsubscribeRequestSchema = z.strictObject({
  token: z.string().min(1, "Required.").max(300, "At most 300 characters."),
});

/** customer-consent: a service mints the link for a guest and channel. */
export const mintTokenRequestSchema = z.strictObject({
  restaurantId: id,
  customerId: id,
  channel,
  mintToken: z.literal(true, "Must be true."),
});

export type UpsertRequest = z.infer<typeof upsertRequestSchema>;
export type ConsentRequest = z.infer<typeof consentRequestSchema>;
export type LookupRequest = z.infer<typeof lookupRequestSchema>;
export type ExportRequest = z.infer<typeof exportRequestSchema>;
export type EraseRequest = z.infer<typeof eraseRequestSchema>;
export type BookingUpdateRequest = z.infer<typeof bookingUpdateRequestSchema>;
export type CancelRequest = z.infer<typeof cancelRequestSchema>;
export type MergeRequest = z.infer<typeof mergeRequestSchema>;
export type UnmergeRequest = z.infer<typeof unmergeRequestSchema>;
export type DuplicatesRequest = z.infer<typeof duplicatesRequestSchema>;

/** A Supabase Database Webhook (pg_net) body. */
export const webhookSchema = z.strictObject({
  type: z.enum(["INSERT", "UPDATE", "DELETE"]),
  table: z.string(),
  schema: z.string(),
  record: z.record(z.string(), z.unknown()).nullable(),
  old_record: z.record(z.string(), z.unknown()).nullable(),
});

/**
 * The columns of public.bookings a webhook handler needs; others are
 * ignored. A bad value here refuses the delivery (400).
 */
export const bookingRecordSchema = z.looseObject({
  id,
  restaurant_id: id,
  party_size: z.int("Must be a whole number.").min(1, "At least 1.").max(1000, "At most 1000."),
  start_at: timestamp.nullish(),
  status,
  cancelled_at: timestamp.nullish(),
  created_at: timestamp.nullish(),
  updated_at: timestamp.nullish(),
});

/**
 * The optional columns: the booking is recorded without one that cannot be
 * used (with a warning), since pg_net does not retry a refused delivery.
 */
const OPTIONAL_COLUMNS = {
  customer_id: id.nullish(),
  customer_name: text(200).nullish(),
  customer_email: text(320).nullish(),
  customer_phone: text(40).nullish(),
  marketing_opt_in: z.boolean("Must be true or false.").nullish(),
};

type OptionalColumns = {
  [K in keyof typeof OPTIONAL_COLUMNS]: z.output<(typeof OPTIONAL_COLUMNS)[K]> | null;
};

export type WebhookBody = z.infer<typeof webhookSchema>;
export type BookingRecord = z.output<typeof bookingRecordSchema> & OptionalColumns;

/**
 * A booking row: its required columns validated (400 when wrong), each
 * optional column kept or, when unusable, set to null with a warning naming it.
 */
export function parseBookingRecord(
  raw: Record<string, unknown>,
  prefix: string,
): { record: BookingRecord; warnings: ErrorDetail[] } {
  const required = parseOrThrow(bookingRecordSchema, raw, prefix);
  const warnings: ErrorDetail[] = [];
  const optional = {} as Record<string, unknown>;
  for (const [column, schema] of Object.entries(OPTIONAL_COLUMNS)) {
    const result = schema.safeParse(raw[column], { reportInput: true });
    if (result.success) {
      optional[column] = result.data;
    } else {
      optional[column] = null;
      warnings.push(...issueDetails(result.error, `${prefix}.${column}`));
    }
  }
  return { record: { ...required, ...(optional as OptionalColumns) }, warnings };
}

/** True when the body has the shape of a Database Webhook rather than an API call. */
export function looksLikeWebhook(body: unknown): boolean {
  return typeof body === "object" && body !== null && !Array.isArray(body) &&
    "type" in body && "table" in body && "record" in body;
}

/** At most this many details in one error: a body of a thousand unknown keys gets a short answer. */
export const MAX_DETAILS = 20;

/** Validate or throw 400 invalid_request with one detail per bad field (the first MAX_DETAILS). */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  body: unknown,
  prefix = "",
): z.output<S> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw invalidRequest([{ path: prefix || "(body)", message: "Expected an object." }]);
  }
  // The input is reported so that a wrong type can be told from a missing
  // field; it stays in memory and is never echoed to the caller.
  const result = schema.safeParse(body, { reportInput: true });
  if (result.success) return result.data;
  throw invalidRequest(issueDetails(result.error, prefix));
}

/** 400 invalid_request listing the first MAX_DETAILS problems, and how many there were. */
export function invalidRequest(details: ErrorDetail[]): HttpError {
  const message = details.length > MAX_DETAILS
    ? `The request is not valid; the first ${MAX_DETAILS} of ${details.length} problems are listed.`
    : "The request is not valid.";
  return new HttpError(400, "invalid_request", message, {
    details: details.slice(0, MAX_DETAILS),
  });
}

const EXPECTED: Record<string, string> = {
  number: "a number",
  int: "a whole number",
  string: "a string",
  boolean: "true or false",
  object: "an object",
  record: "an object",
  array: "an array",
};
// A path names the caller's keys, which may be long: each segment is cut.
const MAX_SEGMENT = 64;

export function issueDetails(error: z.ZodError, prefix = ""): ErrorDetail[] {
  const segment = (key: PropertyKey) => {
    const s = String(key);
    return s.length > MAX_SEGMENT ? `${s.slice(0, MAX_SEGMENT)}…` : s;
  };
  const join = (path: PropertyKey[]) =>
    [prefix, ...path.map(segment)].filter((s) => s !== "").join(".") || "(body)";
  const details: ErrorDetail[] = [];
  for (const issue of error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        details.push({ path: join([...issue.path, key]), message: "Unknown field." });
      }
    } else if (issue.code === "invalid_type") {
      details.push({ path: join(issue.path), message: typeMessage(issue) });
    } else {
      details.push({ path: join(issue.path), message: issue.message });
    }
  }
  return details;
}

/** "Required." only for a field that is absent; otherwise what was expected instead. */
function typeMessage(issue: z.core.$ZodIssueInvalidType): string {
  if (issue.input === undefined) return "Required.";
  if (typeof issue.input === "number" && !Number.isFinite(issue.input)) {
    return "Expected a finite number.";
  }
  const expected = EXPECTED[issue.expected];
  return expected ? `Expected ${expected}.` : issue.message;
}
