// A host's public.bookings row, delivered by a Database Webhook (INSERT or
// UPDATE), applied as the booking's snapshot: its version is the row's
// updated_at, so a late, repeated or reordered delivery changes nothing a
// newer one already said. An optional column the row cannot use was dropped
// when it was parsed (or is dropped here, for a contact that does not
// normalize): the booking is applied without it and the answer warns.
import { runUpsert, updateBooking } from "./customers.ts";
import type { Context } from "./endpoint.ts";
import type { BookingRecord } from "./schemas.ts";
import {
  type BookingRow,
  bookingUpsert,
  hasContact,
  ignored,
  type Routes,
  rowContacts,
  withWarnings,
} from "./webhook.ts";

/** The columns whose change the module reads; others are answered "ignored". */
const TRACKED = [
  "status",
  "party_size",
  "start_at",
  "cancelled_at",
  "customer_name",
  "customer_email",
  "customer_phone",
  "marketing_opt_in",
] as const;

function trackedChange(r: BookingRecord, old: BookingRecord | null): boolean {
  return old === null || TRACKED.some((column) => (r[column] ?? null) !== (old[column] ?? null));
}

/**
 * When the row turned cancelled: its own cancelled_at (the reference table
 * stamps it), else the version of the update that made the change; unknown
 * (null, SQL keeps what it knows) when it was cancelled before this delivery.
 */
function cancelledAt(r: BookingRecord, old: BookingRecord | null): string | null {
  if (r.status !== "cancelled") return null;
  if (r.cancelled_at) return r.cancelled_at;
  return old === null || old.status !== "cancelled" ? r.updated_at ?? null : null;
}

/** The webhook routes every function shares: INSERT and UPDATE both apply the row. */
export function bookingRowRoutes(ctx: Context): Pick<Routes, "insert" | "update"> {
  return {
    insert: (r) => applyBookingRow(ctx, r, null),
    update: (r, old) => applyBookingRow(ctx, r, old),
  };
}

async function applyBookingRow(
  ctx: Context,
  row: BookingRow,
  old: BookingRecord | null,
): Promise<unknown> {
  const { db, caller: { claims }, receivedAt } = ctx;
  const r = row.record;
  const version = r.updated_at ?? receivedAt;
  // Every input is checked here, before anything is written.
  const contacts = await rowContacts(row, ctx);
  if (hasContact(contacts)) {
    const result = await runUpsert(
      db,
      claims,
      {
        ...bookingUpsert(r, version),
        // An opt-in comes with the booking it was given with, never with a
        // cancellation; SQL also refuses it for a booking already recorded.
        marketingOptIn: (r.marketing_opt_in ?? false) && r.status !== "cancelled",
      },
      contacts,
      {
        consentAt: r.created_at ?? version,
        cancelledAt: cancelledAt(r, old),
        receivedAt,
      },
    );
    if (!result.bookingRecorded && !result.bookingApplied && !trackedChange(r, old)) {
      return ignored("No column the module reads changed.", row.warnings);
    }
    return withWarnings(result, row);
  }
  if (!r.customer_id) {
    return ignored("The booking names no customer by id or usable contact.", row.warnings);
  }
  return withWarnings(
    await updateBooking(db, claims, {
      restaurantId: r.restaurant_id,
      bookingId: r.id,
      status: r.status,
      covers: r.party_size,
      startsAt: r.start_at,
      updatedAt: version,
      cancelledAt: cancelledAt(r, old),
      customerId: r.customer_id,
    }),
    row,
  );
}
