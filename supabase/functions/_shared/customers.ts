// The two operations, from validated requests to one SQL call each.
// Contacts are normalized here (the SQL side only checks the canonical form);
// national phone numbers need the restaurant's region, which is cached per
// isolate and re-checked by SQL on every call.
import { type Claims, sqlClaims } from "./auth.ts";
import { callFunction, isRegionMismatch, type Sql, toHttpError } from "./db.ts";
import { type ErrorDetail, HttpError } from "./http.ts";
import {
  isInternational,
  type NormalizedEmail,
  normalizeEmail,
  normalizeName,
} from "./normalize_core.ts";
import type { NormalizedPhone } from "./normalize_phone.ts";
import type { CancelRequest, UpsertRequest } from "./schemas.ts";

/** Field names to report normalization errors under (webhooks use record columns). */
export interface FieldPaths {
  email: string;
  phone: string;
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

export interface UpsertResult {
  customer: CustomerJson;
  profile: ProfileJson;
  created: boolean;
  matchedBy: "email" | "phone" | "email_and_phone" | null;
  conflict: { customerId: string; field: "phone" } | null;
  bookingRecorded: boolean | null;
}

export interface CancelResult {
  customer: CustomerJson;
  profile: ProfileJson;
  cancellationRecorded: boolean;
}

export interface CustomerJson {
  id: string;
  restaurantId: string;
  name: string | null;
  email: string | null;
  phone: string | null;
  marketingOptIn: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface ProfileJson {
  totalBookings: number;
  totalCovers: number;
  totalCancellations: number;
  firstBookingAt: string | null;
  lastBookingAt: string | null;
  marketingOptInAt: string | null;
}

export async function upsertCustomer(
  sql: Sql,
  claims: Claims,
  req: UpsertRequest,
  paths: FieldPaths = API_PATHS,
): Promise<UpsertResult> {
  const email = req.email ? emailOrThrow(req.email, paths) : null;
  const name = normalizeName(req.name);
  const booking = req.booking ?? null;
  return await withRegion(sql, claims, req.restaurantId, req.phone, paths, async (phone) => {
    return await callFunction<UpsertResult>(sql, "private.customers_upsert", [
      [sqlClaims(claims), "jsonb"],
      [req.restaurantId, "uuid"],
      [name, "text"],
      [email?.display, "text"],
      [email?.normalized, "text"],
      [phone?.display, "text"],
      [phone?.e164, "text"],
      [phone?.region, "text"],
      [req.marketingOptIn, "boolean"],
      [booking?.id, "uuid"],
      [booking?.covers, "integer"],
      [booking?.startsAt, "timestamptz"],
    ]);
  });
}

export async function cancelBooking(
  sql: Sql,
  claims: Claims,
  req: CancelRequest,
  paths: FieldPaths = API_PATHS,
): Promise<CancelResult> {
  const email = req.email ? emailOrThrow(req.email, paths) : null;
  return await withRegion(sql, claims, req.restaurantId, req.phone, paths, async (phone) => {
    return await callFunction<CancelResult>(sql, "private.customer_cancel", [
      [sqlClaims(claims), "jsonb"],
      [req.restaurantId, "uuid"],
      [req.bookingId, "uuid"],
      [req.customerId, "uuid"],
      [email?.normalized, "text"],
      [phone?.e164, "text"],
      [phone?.region, "text"],
      [req.cancelledAt, "timestamptz"],
    ]);
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
  sql: Sql,
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
    region ??= await lookupRegion(sql, claims, restaurantId);
  }
  for (let attempt = 0;; attempt++) {
    let phone: NormalizedPhone | null = null;
    if (phoneText !== null) {
      const result = (await phoneLib!).normalizePhone(phoneText, region);
      if (!result.ok && cached) {
        // Invalid under a cached region: the region may have changed since.
        cached = false;
        const fresh = await lookupRegion(sql, claims, restaurantId);
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

async function lookupRegion(sql: Sql, claims: Claims, restaurantId: string): Promise<string> {
  try {
    const region = await callFunction<string>(sql, "private.authorize", [
      [sqlClaims(claims), "jsonb"],
      [restaurantId, "uuid"],
    ]);
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
