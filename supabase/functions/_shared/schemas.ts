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
const timestamp = z.iso.datetime({ offset: true, message: "Must be an ISO 8601 date-time." });

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
const wording = z.string().trim().min(1, "Must not be empty.").max(
  2000,
  "At most 2000 characters.",
);

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

/** A Supabase Database Webhook (pg_net) body. */
export const webhookSchema = z.strictObject({
  type: z.enum(["INSERT", "UPDATE", "DELETE"]),
  table: z.string(),
  schema: z.string(),
  record: z.record(z.string(), z.unknown()).nullable(),
  old_record: z.record(z.string(), z.unknown()).nullable(),
});

/** The columns of public.bookings a webhook handler reads; others are ignored. */
export const bookingRecordSchema = z.looseObject({
  id,
  restaurant_id: id,
  customer_id: id.nullish(),
  customer_name: text(200).nullish(),
  customer_email: text(320).nullish(),
  customer_phone: text(40).nullish(),
  party_size: z.int().min(1).max(1000),
  start_at: timestamp.nullish(),
  status,
  cancelled_at: timestamp.nullish(),
  created_at: timestamp.nullish(),
  marketing_opt_in: z.boolean().nullish(),
  updated_at: timestamp.nullish(),
});

export type WebhookBody = z.infer<typeof webhookSchema>;
export type BookingRecord = z.infer<typeof bookingRecordSchema>;

/** True when the body has the shape of a Database Webhook rather than an API call. */
export function looksLikeWebhook(body: unknown): boolean {
  return typeof body === "object" && body !== null && !Array.isArray(body) &&
    "type" in body && "table" in body && "record" in body;
}

/** Validate or throw 400 invalid_request with one detail per bad field. */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  body: unknown,
  prefix = "",
): z.output<S> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HttpError(400, "invalid_request", "The body must be a JSON object.", [
      { path: prefix || "(body)", message: "Expected an object." },
    ]);
  }
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  throw new HttpError(
    400,
    "invalid_request",
    "The request is not valid.",
    issueDetails(result.error, prefix),
  );
}

export function issueDetails(error: z.ZodError, prefix = ""): ErrorDetail[] {
  const join = (path: PropertyKey[]) =>
    [prefix, ...path.map(String)].filter((s) => s !== "").join(".") || "(body)";
  const details: ErrorDetail[] = [];
  for (const issue of error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        details.push({ path: join([...issue.path, key]), message: "Unknown field." });
      }
    } else if (issue.code === "invalid_type" && issue.input === undefined) {
      details.push({ path: join(issue.path), message: "Required." });
    } else {
      details.push({ path: join(issue.path), message: issue.message });
    }
  }
  return details;
}
