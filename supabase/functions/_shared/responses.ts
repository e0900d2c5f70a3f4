// The answers of the SQL functions, typed from the generated row types: a
// renamed or retyped column fails `deno check` here. The JSON itself is built
// in SQL (private.customer_json and the functions' result objects).
import type { Database } from "./database.types.ts";

type Row<T extends keyof Database["public"]["Tables"]> = Database["public"]["Tables"][T]["Row"];
type Customer = Row<"customers">;
type Profile = Row<"customer_profiles">;
type Booking = Row<"customer_bookings">;

export interface CustomerJson {
  id: Customer["id"];
  restaurantId: Customer["restaurant_id"];
  name: Customer["full_name"];
  email: Customer["email_normalized"];
  phone: Customer["phone_normalized"];
  marketingOptIn: Customer["marketing_opt_in"];
  createdAt: Customer["created_at"];
  updatedAt: Customer["updated_at"];
  /** Set on an erased guest's tombstone. */
  erasedAt: Customer["erased_at"];
}

export interface ProfileJson {
  totalBookings: Profile["total_bookings"];
  totalCovers: Profile["total_covers"];
  totalCancellations: Profile["total_cancellations"];
  totalLateCancellations: Profile["total_late_cancellations"];
  totalVisits: Profile["total_visits"];
  totalNoShows: Profile["total_no_shows"];
  firstBookingAt: Profile["first_booking_at"];
  lastBookingAt: Profile["last_booking_at"];
  lastVisitAt: Profile["last_visit_at"];
  marketingOptInAt: Profile["marketing_opt_in_at"];
}

/** A booking's current state (private.booking_json). */
export interface BookingJson {
  id: Booking["booking_id"];
  customerId: Booking["customer_id"];
  status: Booking["status"];
  covers: Booking["covers"];
  startsAt: Booking["starts_at"];
  cancelledAt: Booking["cancelled_at"];
  lateCancellation: Booking["late_cancellation"];
  updatedAt: Booking["updated_at"];
}

type ConsentEvent = Row<"consent_events">;

/** A channel's consent now: its latest event. */
export interface ChannelConsent {
  state: "granted" | "withdrawn" | "none";
  at: ConsentEvent["occurred_at"] | null;
  source: ConsentEvent["source"] | null;
}

export interface CustomerWithProfile {
  customer: CustomerJson;
  profile: ProfileJson;
  consent: { email: ChannelConsent; sms: ChannelConsent };
}

export interface UpsertResult extends CustomerWithProfile {
  created: boolean;
  matchedBy: "email" | "phone" | "email_and_phone" | null;
  conflict: { customerId: Customer["id"]; field: "phone" } | null;
  /** Free contacts that were not stored because the guest already has one of that kind. */
  contactsNotSaved: ("email" | "phone")[];
  /** null without a booking; false when that booking id was already recorded. */
  bookingRecorded: boolean | null;
  /** null without a booking; false when the snapshot was stale or identical. */
  bookingApplied: boolean | null;
}

export interface CancelResult extends CustomerWithProfile {
  cancellationRecorded: boolean;
}

export interface BookingUpdateResult extends CustomerWithProfile {
  booking: BookingJson;
  applied: boolean;
}

export interface LookupResult extends CustomerWithProfile {
  matchedBy: "id" | "email" | "phone" | "email_and_phone";
  conflict: { customerId: Customer["id"]; field: "phone" } | null;
}

type Host = Row<"bookings">;
type Erasure = Row<"customer_erasures">;

/** The subject-access document (private.customer_export). */
export interface ExportDocument extends CustomerWithProfile {
  contacts: {
    emails: { email: string; display: string }[];
    phones: { phone: string; display: string }[];
  };
  bookings: (BookingJson & {
    /** The host's public.bookings row for this booking, when it has one. */
    hostRow: {
      customerName: Host["customer_name"];
      customerEmail: Host["customer_email"];
      customerPhone: Host["customer_phone"];
      partySize: Host["party_size"];
      startAt: Host["start_at"];
      status: Host["status"];
      marketingOptIn: Host["marketing_opt_in"];
      cancelledAt: Host["cancelled_at"];
      createdAt: Host["created_at"];
      updatedAt: Host["updated_at"];
    } | null;
  })[];
  consentEvents: {
    channel: ConsentEvent["channel"];
    action: ConsentEvent["action"];
    source: ConsentEvent["source"];
    wording: string | null;
    actor: ConsentEvent["actor"];
    occurredAt: ConsentEvent["occurred_at"];
    recordedAt: ConsentEvent["recorded_at"];
  }[];
  erasure: {
    erasedAt: Erasure["erased_at"];
    reason: Erasure["reason"];
    actorRole: Erasure["actor_role"];
  } | null;
  exportedAt: string;
}

export interface EraseResult extends CustomerWithProfile {
  /** false when the guest had already been erased. */
  erased: boolean;
}
