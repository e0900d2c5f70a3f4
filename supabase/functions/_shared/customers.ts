// The operations, from validated requests to one SQL call each. Contacts are
// prepared first (normalized: the SQL side only checks the canonical form),
// then the call runs, so every input of a call is checked before it writes.
// National phone numbers need the restaurant's region, which is cached per
// isolate and re-checked by SQL on every call.
import { type Claims, sqlClaims } from "./auth.ts";
import {
  callFunction,
  type Db,
  type EveryArg,
  isRegionMismatch,
  orNull,
  toHttpError,
} from "./db.ts";
import type { ErrorDetail } from "./http.ts";
import {
  isInternational,
  type NormalizedEmail,
  normalizeEmail,
  normalizeName,
  type Result,
} from "./normalize_core.ts";
import type { NormalizedPhone } from "./normalize_phone.ts";
import type {
  BookingUpdateResult,
  CancelResult,
  EraseResult,
  ExportDocument,
  LookupResult,
  UpsertResult,
} from "./responses.ts";
import { recordConsent } from "./consent.ts";
import {
  type BookingUpdateRequest,
  type CancelRequest,
  type ConsentRequest,
  type EraseRequest,
  type ExportRequest,
  invalidRequest,
  type LookupRequest,
  type UpsertRequest,
} from "./schemas.ts";

export type {
  BookingUpdateResult,
  CancelResult,
  EraseResult,
  ExportDocument,
  LookupResult,
  UpsertResult,
} from "./responses.ts";

/** Field names to report normalization errors under (webhooks use record columns). */
export interface FieldPaths {
  email: string;
  phone: string;
}

/** What a Database Webhook knows beyond an API request. */
export interface UpsertOptions {
  paths?: FieldPaths;
  /** When the guest gave the opt-in (the host row's time); default now. */
  consentAt?: string | null;
  /** When a cancelled booking was cancelled (the host row's cancelled_at). */
  cancelledAt?: string | null;
  /** The booking's version when the request has none: when it was received. */
  receivedAt?: string;
}

/**
 * What happens to a contact that cannot be normalized: the request is
 * refused (API callers), or the contact is dropped with a warning (webhooks,
 * whose deliveries are not retried).
 */
export type OnBadContact = "refuse" | "drop";

/** A request's contacts, normalized; the ones dropped are named in `warnings`. */
export interface Contacts {
  email: NormalizedEmail | null;
  phone: PreparedPhone | null;
  warnings: ErrorDetail[];
}

/** A phone normalized under the region known now, with what a retry under another needs. */
export interface PreparedPhone {
  text: string;
  path: string;
  value: NormalizedPhone;
}

const API_PATHS: FieldPaths = { email: "email", phone: "phone" };
const REGION_CACHE_MAX = 10_000;
// SQL refuses a call normalized under a stale region (PT409, with the actual
// one): redo it under the new region, at most this many times.
const REGION_RETRIES = 2;
const regionCache = new Map<string, string>();

type PhoneModule = typeof import("./normalize_phone.ts");
let phoneModule: Promise<PhoneModule> | null = null;

/**
 * libphonenumber and its metadata load on the first request that carries a
 * phone number, not at start: a cold start whose first request has none
 * answers ~20 ms sooner, and one that has one loads it while the region is
 * looked up.
 */
function loadPhoneModule(): Promise<PhoneModule> {
  return phoneModule ??= import("./normalize_phone.ts");
}

export async function upsertCustomer(
  db: Db,
  claims: Claims,
  req: UpsertRequest,
  options: UpsertOptions = {},
): Promise<UpsertResult> {
  const paths = options.paths ?? API_PATHS;
  const contacts = await prepareContacts(db, claims, req.restaurantId, req, paths, "refuse");
  return await runUpsert(db, claims, req, contacts, options);
}

/** The upsert with contacts already prepared: the request's own email and phone are not read. */
export async function runUpsert(
  db: Db,
  claims: Claims,
  req: UpsertRequest,
  contacts: Contacts,
  options: UpsertOptions = {},
): Promise<UpsertResult> {
  const email = contacts.email;
  const name = normalizeName(req.name);
  const booking = req.booking ?? null;
  const version = booking ? booking.updatedAt ?? options.receivedAt : undefined;
  return await withRegion(req.restaurantId, contacts.phone, async (phone) => {
    return await callFunction(
      db,
      "customers_upsert",
      {
        p_claims: sqlClaims(claims),
        p_restaurant_id: req.restaurantId,
        p_full_name: orNull(name),
        p_email: orNull(email?.display),
        p_email_normalized: orNull(email?.normalized),
        p_phone: orNull(phone?.display),
        p_phone_normalized: orNull(phone?.e164),
        p_phone_region: orNull(phone?.region),
        p_marketing_opt_in: req.marketingOptIn,
        p_consent_at: orNull(options.consentAt),
        // jsonb: sent as JSON text (node-postgres would send an array as a SQL array).
        p_consent: req.consent?.length ? JSON.stringify(req.consent) : null,
        p_booking_id: orNull(booking?.id),
        p_booking_covers: orNull(booking?.covers),
        p_booking_starts_at: orNull(booking?.startsAt),
        p_booking_status: orNull(booking?.status),
        p_booking_cancelled_at: orNull(cancelledAt(booking?.status, options.cancelledAt, version)),
        p_booking_version: orNull(version),
      } satisfies EveryArg<"customers_upsert">,
    ) as unknown as UpsertResult;
  });
}

export async function cancelBooking(
  db: Db,
  claims: Claims,
  req: CancelRequest,
  paths: FieldPaths = API_PATHS,
): Promise<CancelResult> {
  const contacts = await prepareContacts(db, claims, req.restaurantId, req, paths, "refuse");
  return await runCancel(db, claims, req, contacts);
}

/** The cancellation with contacts already prepared: the request's own email and phone are not read. */
export async function runCancel(
  db: Db,
  claims: Claims,
  req: CancelRequest,
  contacts: Contacts,
): Promise<CancelResult> {
  const email = contacts.email;
  return await withRegion(req.restaurantId, contacts.phone, async (phone) => {
    return await callFunction(
      db,
      "customer_cancel",
      {
        p_claims: sqlClaims(claims),
        p_restaurant_id: req.restaurantId,
        p_booking_id: req.bookingId,
        p_customer_id: orNull(req.customerId),
        p_email_normalized: orNull(email?.normalized),
        p_phone_normalized: orNull(phone?.e164),
        p_phone_region: orNull(phone?.region),
        p_cancelled_at: orNull(req.cancelledAt),
      } satisfies EveryArg<"customer_cancel">,
    ) as unknown as CancelResult;
  });
}

/** Apply a change to a recorded booking (or record it on `customerId`, for a linked host row). */
export async function updateBooking(
  db: Db,
  claims: Claims,
  req: BookingUpdateRequest & { cancelledAt?: string | null; customerId?: string | null },
  receivedAt?: string,
): Promise<BookingUpdateResult> {
  return await callFunction(
    db,
    "booking_update",
    {
      p_claims: sqlClaims(claims),
      p_restaurant_id: req.restaurantId,
      p_booking_id: req.bookingId,
      p_status: orNull(req.status),
      p_covers: orNull(req.covers),
      p_starts_at: orNull(req.startsAt),
      p_cancelled_at: orNull(cancelledAt(req.status, req.cancelledAt, req.updatedAt ?? receivedAt)),
      p_version: orNull(req.updatedAt ?? receivedAt),
      p_customer_id: orNull(req.customerId),
    } satisfies EveryArg<"booking_update">,
  ) as unknown as BookingUpdateResult;
}

/**
 * When a change to 'cancelled' happened. A caller who says "cancelled" says
 * it happened at the change's version; a webhook row says when (its
 * cancelled_at), or null when it cannot know (a row already cancelled,
 * without that column): SQL then keeps what it knows. Deciding this here,
 * not from the state in SQL, keeps the result independent of the order in
 * which a cancellation and a reinstatement arrive.
 */
function cancelledAt(
  status: string | null | undefined,
  given: string | null | undefined,
  version: string | undefined,
): string | null | undefined {
  if (status !== "cancelled") return given;
  return given === undefined ? version : given;
}

/** Find a guest by id or contact, normalized exactly as the upsert does; never writes. */
export async function lookupCustomer(
  db: Db,
  claims: Claims,
  req: LookupRequest,
): Promise<LookupResult> {
  const contacts = await prepareContacts(db, claims, req.restaurantId, req, API_PATHS, "refuse");
  const email = contacts.email;
  return await withRegion(req.restaurantId, contacts.phone, async (phone) => {
    return await callFunction(
      db,
      "customer_lookup",
      {
        p_claims: sqlClaims(claims),
        p_restaurant_id: req.restaurantId,
        p_customer_id: orNull(req.customerId),
        p_email_normalized: orNull(email?.normalized),
        p_phone_normalized: orNull(phone?.e164),
        p_phone_region: orNull(phone?.region),
      } satisfies EveryArg<"customer_lookup">,
    ) as unknown as LookupResult;
  });
}

/** Everything held about one guest (subject access). */
export async function exportCustomer(
  db: Db,
  claims: Claims,
  req: ExportRequest,
): Promise<ExportDocument> {
  return await callFunction(db, "customer_export", {
    p_claims: sqlClaims(claims),
    p_restaurant_id: req.restaurantId,
    p_customer_id: req.customerId,
  }) as unknown as ExportDocument;
}

/** Erase a guest's personal data, keeping the anonymous facts on a tombstone. */
export async function eraseCustomer(
  db: Db,
  claims: Claims,
  req: EraseRequest,
): Promise<EraseResult> {
  return await callFunction(db, "customer_erase", {
    p_claims: sqlClaims(claims),
    p_restaurant_id: req.restaurantId,
    p_customer_id: req.customerId,
    p_reason: orNull(req.reason),
    // Left out when absent: its SQL default is false.
    p_force: req.force ?? undefined,
  }) as unknown as EraseResult;
}

/** A grant or withdrawal for a guest named by id or contact (normalized as the upsert does). */
export async function changeConsent(db: Db, claims: Claims, req: ConsentRequest): Promise<unknown> {
  const contacts = await prepareContacts(db, claims, req.restaurantId, req, API_PATHS, "refuse");
  return await withRegion(req.restaurantId, contacts.phone, async (phone) => {
    return await recordConsent(db, claims, req, {
      email: contacts.email?.normalized ?? null,
      phone: phone?.e164 ?? null,
      region: phone?.region ?? null,
    });
  });
}

/**
 * Normalize a request's email and phone. A national phone number needs the
 * restaurant's region: from the cache, or on a miss from private.authorize
 * (which also answers 403/404 correctly), while libphonenumber loads; a
 * number invalid under a cached region is tried again under a fresh one,
 * since the region may have changed.
 */
export async function prepareContacts(
  db: Db,
  claims: Claims,
  restaurantId: string,
  given: { email?: string | null; phone?: string | null },
  paths: FieldPaths,
  onBad: OnBadContact,
): Promise<Contacts> {
  const warnings: ErrorDetail[] = [];
  const usable = <T>(result: Result<T>, path: string): T | null => {
    if (result.ok) return result.value;
    const problem = { path, message: result.reason };
    if (onBad === "refuse") throw invalidRequest([problem]);
    warnings.push(problem);
    return null;
  };
  const email = hasText(given.email) ? usable(normalizeEmail(given.email), paths.email) : null;
  let phone: PreparedPhone | null = null;
  if (hasText(given.phone)) {
    const text = given.phone;
    const value = usable(await phoneUnderKnownRegion(db, claims, restaurantId, text), paths.phone);
    phone = value && { text, path: paths.phone, value };
  }
  return { email, phone, warnings };
}

async function phoneUnderKnownRegion(
  db: Db,
  claims: Claims,
  restaurantId: string,
  text: string,
): Promise<Result<NormalizedPhone>> {
  const phoneLib = loadPhoneModule();
  if (isInternational(text)) return (await phoneLib).normalizePhone(text, null);
  const cached = regionCache.get(restaurantId);
  if (cached !== undefined) {
    const result = (await phoneLib).normalizePhone(text, cached);
    if (result.ok) return result;
  }
  const region = await lookupRegion(db, claims, restaurantId);
  return (await phoneLib).normalizePhone(text, region);
}

/**
 * Run the call with the prepared phone. If SQL says the phone was normalized
 * under a stale region (PT409 with the actual one), remember the new region
 * and redo the call with the phone normalized under it.
 */
async function withRegion<T>(
  restaurantId: string,
  prepared: PreparedPhone | null,
  call: (phone: NormalizedPhone | null) => Promise<T>,
): Promise<T> {
  const attempt = async (phone: NormalizedPhone | null, retriesLeft: number): Promise<T> => {
    try {
      return await call(phone);
    } catch (error) {
      const actual = isRegionMismatch(error);
      if (actual === null || prepared === null || retriesLeft === 0) throw toHttpError(error);
      rememberRegion(restaurantId, actual);
      const again = (await loadPhoneModule()).normalizePhone(prepared.text, actual);
      // Valid under the old region, not under the new one: the caller's
      // number no longer makes sense here, so it is refused even for a webhook.
      if (!again.ok) throw invalidRequest([{ path: prepared.path, message: again.reason }]);
      return await attempt(again.value, retriesLeft - 1);
    }
  };
  return await attempt(prepared?.value ?? null, REGION_RETRIES);
}

async function lookupRegion(db: Db, claims: Claims, restaurantId: string): Promise<string> {
  try {
    const region = await callFunction(db, "authorize", {
      p_claims: sqlClaims(claims),
      p_restaurant_id: restaurantId,
    });
    rememberRegion(restaurantId, region);
    return region;
  } catch (error) {
    throw toHttpError(error);
  }
}

function rememberRegion(restaurantId: string, region: string): void {
  if (regionCache.size >= REGION_CACHE_MAX) regionCache.clear();
  regionCache.set(restaurantId, region);
}

function hasText(value: string | null | undefined): value is string {
  return typeof value === "string" && value.trim() !== "";
}
