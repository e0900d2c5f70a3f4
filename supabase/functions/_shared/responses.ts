// The answers of the SQL functions, typed from the generated row types: a
// renamed or retyped column fails `deno check` here. The JSON itself is built
// in SQL (private.customer_doc, its jsonb form private.customer_json, and the
// functions' result objects).
import type { Database } from "./database.types.ts";

type Row<T extends keyof Database["public"]["Tables"]> = Database["public"]["Tables"][T]["Row"];
type Customer = Row<"customers">;
type Profile = Row<"customer_profiles">;
type Booking = Row<"customer_bookings">;
type Contact = Row<"customer_contacts">;
type Duplicate = Row<"customer_duplicates">;

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
  /** Every email of the guest (normalized), the primary first. */
  emails: Contact["value_normalized"][];
  /** Every phone of the guest (E.164), the primary first. */
  phones: Contact["value_normalized"][];
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
  /** Always empty since contacts are kept as secondary contacts (kept for existing callers). */
  contactsNotSaved: ("email" | "phone")[];
  /** Contacts no live guest held, now the guest's (its empty primary slot, else secondary). */
  contactsAdded: ("email" | "phone")[];
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
    emails: { email: string; display: string; addedAt?: string; addedBy?: string }[];
    phones: { phone: string; display: string; addedAt?: string; addedBy?: string }[];
  };
  /** Ids of the guests merged into this one (tombstones). */
  mergedSources: Customer["id"][];
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
    /** The guest the event was recorded on (this one, or a merged source). */
    customerId: ConsentEvent["customer_id"];
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

export interface MergeResult extends CustomerWithProfile {
  mergeId: string;
}

export interface UnmergeResult {
  mergeId: string;
  unmerged: true;
  target: CustomerWithProfile;
  sources: CustomerWithProfile[];
}

export interface DuplicatePair {
  guests: [CustomerWithProfile, CustomerWithProfile];
  reasons: ("conflict" | "name_and_email_domain" | "name_and_phone_prefix")[];
  firstSeenAt: Duplicate["first_seen_at"];
  lastSeenAt: Duplicate["last_seen_at"];
  timesSeen: Duplicate["times_seen"];
}

export type DuplicatesResult =
  | { pairs: DuplicatePair[]; nextCursor: string | null }
  | { dismissed: true; pair: [string, string] };
