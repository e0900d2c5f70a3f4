-- Row checks: the same rules on the hot tables, at less cost per write.
--
-- Postgres reads a table's CHECK constraints back from their stored text and
-- prepares them on every INSERT or UPDATE statement, and that text grows
-- with every column an expression names (each reference is a node of a dozen
-- fields). On PostgreSQL 18 reading a check back cost ~40k instructions per
-- statement: a booking change writes a booking state and a profile, a new
-- guest also a guest and its contacts. So:
--   * the profile's counters are a domain, private.tally (never negative): a
--     domain's check is loaded into the type cache once per connection and
--     runs only for the columns a statement assigns; the profile keeps no
--     CHECK of its own;
--   * each validator takes the whole row (one reference) instead of its
--     columns one by one, so the stored text is a third to a fifth as long.
--     The rules are unchanged but one: a booking state without a status may
--     no longer carry a cancellation time or a late flag (the rule said "only
--     when cancelled", and a null status slipped through it as unknown).
-- Measured (callgrind, single-user backends, synchronous_commit off,
-- (600 - 100) / 500 upserts after 200, each with a booking; BENCHMARKS.md):
--   returning guest  PostgreSQL 18: 1.72M -> 1.65M   15: 1.51M -> 1.46M
--   new guest        PostgreSQL 18: 2.97M -> 2.82M   15: 2.62M -> 2.51M
--
-- Operations: the counters' type change rewrites customer_profiles and its
-- indexes, and each new CHECK scans its table, under exclusive locks (one
-- transaction; nothing is released yet, so no table is large). A validator
-- of a whole row names its fields, and PL/pgSQL keeps their types in its
-- cached plans: a later migration that changes the type of a column a
-- validator reads must replace that validator in the same migration, or
-- writes on connections that already ran it fail until they reconnect. Since
-- the validators depend on their tables' row types, pg_dump puts these CHECKs
-- in its post-data section.

-------------------------------------------------------------------------------
-- private.tally: a profile counter. Nothing else needs the type.
-------------------------------------------------------------------------------
create domain private.tally as integer
  constraint tally_not_negative check (value >= 0);

revoke usage on domain private.tally from public;

-- The existing rows are checked as the table is rewritten.
alter table public.customer_profiles
  drop constraint customer_profiles_counts_check,
  alter column total_bookings type private.tally,
  alter column total_covers type private.tally,
  alter column total_cancellations type private.tally,
  alter column total_late_cancellations type private.tally,
  alter column total_visits type private.tally,
  alter column total_no_shows type private.tally;

-------------------------------------------------------------------------------
-- The validators, each now of its table's row. Same rules, same names; the
-- column-by-column versions go. Pure, and executable by everyone: a CHECK
-- runs with the rights of whoever writes the row. A validator names its
-- fields: a column it reads can still be dropped, but every later write then
-- fails (no rule is lost silently, as a CHECK naming the column would be
-- dropped with it) until the validator is replaced.
-------------------------------------------------------------------------------

-- A guest: clean text, canonical contacts, each display form with its
-- normalized one, a contact unless erased, nothing personal once erased, and
-- never merged into itself.
create function private.customer_row_valid(p_customer public.customers)
returns boolean
language plpgsql
immutable
set search_path = ''
as $$
begin
  return private.is_clean_text(p_customer.full_name, 200)
    and private.is_clean_text(p_customer.email, 320)
    and private.is_clean_text(p_customer.phone, 40)
    and private.is_normalized_email(p_customer.email_normalized)
    and private.is_e164(p_customer.phone_normalized)
    and (p_customer.email is null) = (p_customer.email_normalized is null)
    and (p_customer.phone is null) = (p_customer.phone_normalized is null)
    and (p_customer.erased_at is not null
         or p_customer.email_normalized is not null or p_customer.phone_normalized is not null)
    and (p_customer.erased_at is null
         or (p_customer.full_name is null and p_customer.email is null
             and p_customer.email_normalized is null and p_customer.phone is null
             and p_customer.phone_normalized is null and not p_customer.marketing_opt_in))
    and p_customer.merged_into is distinct from p_customer.id;
end
$$;

grant execute on function private.customer_row_valid(public.customers) to public;

alter table public.customers
  drop constraint customers_valid,
  add constraint customers_valid check (private.customer_row_valid(customers));

drop function private.customer_row_valid(
  uuid, text, text, text, text, text, boolean, timestamptz, uuid
);

-- A contact: an email or a phone in canonical form, with clean display text,
-- added by a known path.
create function private.contact_row_valid(p_contact public.customer_contacts)
returns boolean
language plpgsql
immutable
set search_path = ''
as $$
begin
  return case p_contact.kind
      when 'email' then private.is_normalized_email(p_contact.value_normalized)
      when 'phone' then private.is_e164(p_contact.value_normalized)
      else false
    end
    and p_contact.display <> '' and private.is_clean_text(p_contact.display, 320)
    and p_contact.added_by in ('primary', 'upsert', 'backfill');
end
$$;

grant execute on function private.contact_row_valid(public.customer_contacts) to public;

alter table public.customer_contacts
  drop constraint customer_contacts_valid,
  add constraint customer_contacts_valid check (private.contact_row_valid(customer_contacts));

drop function private.contact_row_valid(text, text, text, text);

-- A booking's state: a known status and a party size in range, each field
-- with its version, a cancellation time and a late flag only when cancelled
-- (a state without a status is not cancelled).
create function private.booking_state_valid(p_state public.customer_bookings)
returns boolean
language plpgsql
immutable
set search_path = ''
as $$
begin
  return (p_state.status is null
          or p_state.status in ('pending', 'confirmed', 'cancelled', 'completed', 'no_show'))
    and (p_state.covers is null or p_state.covers between 1 and 1000)
    -- A field and its version come together.
    and (p_state.status is null) = (p_state.status_version is null)
    and (p_state.covers is null) = (p_state.covers_version is null)
    and (p_state.starts_at is null) = (p_state.starts_at_version is null)
    and (p_state.cancelled_at is null or p_state.status is not distinct from 'cancelled')
    and (not p_state.late_cancellation or p_state.status is not distinct from 'cancelled');
end
$$;

grant execute on function private.booking_state_valid(public.customer_bookings) to public;

alter table public.customer_bookings
  drop constraint customer_bookings_state,
  add constraint customer_bookings_state check (private.booking_state_valid(customer_bookings));

drop function private.booking_state_valid(
  text, timestamptz, timestamptz, integer, timestamptz, timestamptz, timestamptz, boolean
);

-- A consent event: a known channel, action and source, an actor that is the
-- service or an auth user id, a bounded idempotency key.
create function private.consent_event_valid(p_event public.consent_events)
returns boolean
language plpgsql
immutable
set search_path = ''
as $$
begin
  return p_event.channel in ('email', 'sms')
    and p_event.action in ('grant', 'withdraw')
    and p_event.source in ('booking', 'staff', 'import', 'unsubscribe_link', 'api', 'erasure', 'merge')
    -- An auth user id: 36 characters of hex digits and dashes (counted apart
    -- from the pattern: a bounded repeat is slow in PostgreSQL's engine).
    and (p_event.actor = 'service'
         or (length(p_event.actor) = 36 and p_event.actor ~ '^[0-9a-f-]+$'))
    and coalesce(length(p_event.idempotency_key) <= 200, true);
end
$$;

grant execute on function private.consent_event_valid(public.consent_events) to public;

alter table public.consent_events
  drop constraint consent_events_valid,
  add constraint consent_events_valid check (private.consent_event_valid(consent_events));

drop function private.consent_event_valid(text, text, text, text, text);
