// The two operations, from validated requests to one SQL call each.
// Contacts are normalized here (the SQL side only checks the canonical form);
// national phone numbers need the restaurant's region, which is cached per
// isolate and re-checked by SQL on every call.
import { type Claims, sqlClaims } from "./auth.ts";
import { callFunction, type Db, isRegionMismatch, toHttpError } from "./db.ts";
import { type ErrorDetail, HttpError } from "./http.ts";
import {
  isInternational,
  type NormalizedEmail,
  normalizeEmail,
  normalizeName,
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
import type {
  BookingUpdateRequest,
  CancelRequest,
  ConsentRequest,
  EraseRequest,
  ExportRequest,
  LookupRequest,
  UpsertRequest,
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

const API_PATHS: FieldPaths = { email: "email", phone: "phone" };
const REGION_CACHE_MAX = 10_000;
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

// null and undefined both mean "not given": the SQL default (null) applies.
const given = <T>(value: T | null | undefined): T | undefined => value ?? undefined;

export async function upsertCustomer(
  db: Db,
  claims: Claims,
  req: UpsertRequest,
  options: UpsertOptions = {},
): Promise<UpsertResult> {
  const paths = options.paths ?? API_PATHS;
  const email = req.email ? emailOrThrow(req.email, paths) : null;
  const name = normalizeName(req.name);
  const booking = req.booking ?? null;
  return await withRegion(db, claims, req.restaurantId, req.phone, paths, async (phone) => {
    return await callFunction(db, "customers_upsert", {
      p_claims: sqlClaims(claims),
      p_restaurant_id: req.restaurantId,
      p_full_name: given(name),
      p_email: given(email?.display),
      p_email_normalized: given(email?.normalized),
      p_phone: given(phone?.display),
      p_phone_normalized: given(phone?.e164),
      p_phone_region: given(phone?.region),
      p_marketing_opt_in: req.marketingOptIn,
      p_consent_at: given(options.consentAt),
      // jsonb: sent as JSON text (node-postgres would send an array as a SQL array).
      p_consent: req.consent?.length ? JSON.stringify(req.consent) : undefined,
      p_booking_id: given(booking?.id),
      p_booking_covers: given(booking?.covers),
      p_booking_starts_at: given(booking?.startsAt),
      p_booking_status: given(booking?.status),
      p_booking_cancelled_at: given(options.cancelledAt),
      p_booking_version: booking ? booking.updatedAt ?? options.receivedAt : undefined,
    }) as unknown as UpsertResult;
  });
}

export async function cancelBooking(
  db: Db,
  claims: Claims,
  req: CancelRequest,
  paths: FieldPaths = API_PATHS,
): Promise<CancelResult> {
  const email = req.email ? emailOrThrow(req.email, paths) : null;
  return await withRegion(db, claims, req.restaurantId, req.phone, paths, async (phone) => {
    return await callFunction(db, "customer_cancel", {
      p_claims: sqlClaims(claims),
      p_restaurant_id: req.restaurantId,
      p_booking_id: req.bookingId,
      p_customer_id: given(req.customerId),
      p_email_normalized: given(email?.normalized),
      p_phone_normalized: given(phone?.e164),
      p_phone_region: given(phone?.region),
      p_cancelled_at: given(req.cancelledAt),
    }) as unknown as CancelResult;
  });
}

/** Apply a change to a recorded booking (or record it on `customerId`, for a linked host row). */
export async function updateBooking(
  db: Db,
  claims: Claims,
  req: BookingUpdateRequest & { cancelledAt?: string | null; customerId?: string | null },
  receivedAt?: string,
): Promise<BookingUpdateResult> {
  try {
    return await callFunction(db, "booking_update", {
      p_claims: sqlClaims(claims),
      p_restaurant_id: req.restaurantId,
      p_booking_id: req.bookingId,
      p_status: given(req.status),
      p_covers: given(req.covers),
      p_starts_at: given(req.startsAt),
      p_cancelled_at: given(req.cancelledAt),
      p_version: req.updatedAt ?? receivedAt,
      p_customer_id: given(req.customerId),
    }) as unknown as BookingUpdateResult;
  } catch (error) {
    throw toHttpError(error);
  }
}

/** Find a guest by id or contact, normalized exactly as the upsert does; never writes. */
export async function lookupCustomer(
  db: Db,
  claims: Claims,
  req: LookupRequest,
): Promise<LookupResult> {
  const email = req.email ? emailOrThrow(req.email, API_PATHS) : null;
  return await withRegion(db, claims, req.restaurantId, req.phone, API_PATHS, async (phone) => {
    return await callFunction(db, "customer_lookup", {
      p_claims: sqlClaims(claims),
      p_restaurant_id: req.restaurantId,
      p_customer_id: given(req.customerId),
      p_email_normalized: given(email?.normalized),
      p_phone_normalized: given(phone?.e164),
      p_phone_region: given(phone?.region),
    }) as unknown as LookupResult;
  });
}

/** Everything held about one guest (subject access). */
export async function exportCustomer(
  db: Db,
  claims: Claims,
  req: ExportRequest,
): Promise<ExportDocument> {
  try {
    return await callFunction(db, "customer_export", {
      p_claims: sqlClaims(claims),
      p_restaurant_id: req.restaurantId,
      p_customer_id: req.customerId,
    }) as unknown as ExportDocument;
  } catch (error) {
    throw toHttpError(error);
  }
}

/** Erase a guest's personal data, keeping the anonymous facts on a tombstone. */
export async function eraseCustomer(
  db: Db,
  claims: Claims,
  req: EraseRequest,
): Promise<EraseResult> {
  try {
    return await callFunction(db, "customer_erase", {
      p_claims: sqlClaims(claims),
      p_restaurant_id: req.restaurantId,
      p_customer_id: req.customerId,
      p_reason: given(req.reason),
      p_force: given(req.force),
    }) as unknown as EraseResult;
  } catch (error) {
    throw toHttpError(error);
  }
}

/** A grant or withdrawal for a guest named by id or contact (normalized as the upsert does). */
export async function changeConsent(db: Db, claims: Claims, req: ConsentRequest): Promise<unknown> {
  const email = req.email ? emailOrThrow(req.email, API_PATHS) : null;
  return await withRegion(db, claims, req.restaurantId, req.phone, API_PATHS, async (phone) => {
    return await recordConsent(db, claims, req, {
      email: email?.normalized ?? null,
      phone: phone?.e164 ?? null,
      region: phone?.region ?? null,
    });
  });
}

function emailOrThrow(input: string, paths: FieldPaths): NormalizedEmail | null {
  if (input.trim() === "") return null;
  const result = normalizeEmail(input);
  if (!result.ok) throw invalid([{ path: paths.email, message: result.reason }]);
  return result.value;
}

/**
 * Normalize the phone (if any) and run the call. A national number needs the
 * restaurant's region: taken from the cache, or on a miss from
 * private.authorize (which also answers 403/404 correctly). If SQL says the
 * region changed, normalize again with the new one and retry once.
 */
async function withRegion<T>(
  db: Db,
  claims: Claims,
  restaurantId: string,
  rawPhone: string | null | undefined,
  paths: FieldPaths,
  call: (phone: NormalizedPhone | null) => Promise<T>,
): Promise<T> {
  const phoneText = rawPhone && rawPhone.trim() !== "" ? rawPhone : null;
  const phoneLib = phoneText === null ? null : loadPhoneModule();
  let region: string | null = null;
  let cached = false;
  if (phoneText !== null && !isInternational(phoneText)) {
    region = regionCache.get(restaurantId) ?? null;
    cached = region !== null;
    region ??= await lookupRegion(db, claims, restaurantId);
  }
  for (let attempt = 0;; attempt++) {
    let phone: NormalizedPhone | null = null;
    if (phoneText !== null) {
      const result = (await phoneLib!).normalizePhone(phoneText, region);
      if (!result.ok && cached) {
        // Invalid under a cached region: the region may have changed since.
        cached = false;
        const fresh = await lookupRegion(db, claims, restaurantId);
        if (fresh !== region) {
          region = fresh;
          continue;
        }
      }
      if (!result.ok) throw invalid([{ path: paths.phone, message: result.reason }]);
      phone = result.value;
    }
    try {
      return await call(phone);
    } catch (error) {
      const actual = isRegionMismatch(error);
      if (actual && attempt < 2) {
        rememberRegion(restaurantId, actual);
        region = actual;
        cached = false;
        continue;
      }
      throw toHttpError(error);
    }
  }
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

function invalid(details: ErrorDetail[]): HttpError {
  return new HttpError(400, "invalid_request", "The request is not valid.", details);
}
