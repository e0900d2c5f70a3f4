-- Answers as json: the booking path's three functions (customers_upsert,
-- customer_cancel, booking_update) build their answer as json, not jsonb.
--
-- jsonb builds a tree, converts it to its binary form and prints it back to
-- text for the caller, and every nested object, and the `||` that added each
-- call's own fields, went through that again. The callers (the edge
-- functions, PostgREST) read the text either way. Measured with callgrind
-- (single-user backends, BENCHMARKS.md): the answer was 509k instructions of
-- a new guest's upsert on PostgreSQL 18 (3.13M); built as json it costs
-- 151k less for a new guest and 138k for a returning one (PostgreSQL 15: 134k
-- and 127k).
--
-- A guest's shape is still written once: private.customer_doc builds its
-- three parts (customer, profile, consent) as json; these three functions
-- place them first in their answers, and private.customer_json, kept as
-- jsonb for the answers that are assembled as jsonb (look-up, consent,
-- erasure, export, merge, unmerge, duplicates), is now that document as
-- jsonb. No key or value changes; a json answer keeps its keys in the order
-- written, where jsonb sorted them. The rpc() wrappers of the three return
-- json too, so PostgREST passes the text on.

-------------------------------------------------------------------------------
-- private.customer_doc(id): the API shape of a guest in three parts: the
-- customer with all its emails and phones (the primary one first, then by
-- when each was added), its profile and its consent. Null for no guest.
-- A helper (helper_calls): it runs under its caller's search_path.
-------------------------------------------------------------------------------
create type private.customer_doc as (customer json, profile json, consent jsonb);

-- Only the module's functions use it.
revoke usage on type private.customer_doc from public;

create function private.customer_doc(p_customer_id uuid)
returns private.customer_doc
language plpgsql
stable
as $$
declare
  v_doc private.customer_doc;
begin
  select
    json_build_object(
      'id', c.id,
      'restaurantId', c.restaurant_id,
      'name', c.full_name,
      'email', c.email_normalized,
      'phone', c.phone_normalized,
      'emails', x.emails,
      'phones', x.phones,
      'marketingOptIn', c.marketing_opt_in,
      'createdAt', c.created_at,
      'updatedAt', c.updated_at,
      'erasedAt', c.erased_at
    ),
    json_build_object(
      'totalBookings', p.total_bookings,
      'totalCovers', p.total_covers,
      'totalCancellations', p.total_cancellations,
      'totalLateCancellations', p.total_late_cancellations,
      'totalVisits', p.total_visits,
      'totalNoShows', p.total_no_shows,
      'firstBookingAt', p.first_booking_at,
      'lastBookingAt', p.last_booking_at,
      'lastVisitAt', p.last_visit_at,
      'marketingOptInAt', p.marketing_opt_in_at
    ),
    private.consent_json(c.id)
  into v_doc
  from public.customers c
  join public.customer_profiles p on p.customer_id = c.id
  cross join lateral (
    select
      coalesce(json_agg(k.value_normalized
        order by k.value_normalized is distinct from c.email_normalized, k.added_at, k.id)
        filter (where k.kind = 'email'), '[]') as emails,
      coalesce(json_agg(k.value_normalized
        order by k.value_normalized is distinct from c.phone_normalized, k.added_at, k.id)
        filter (where k.kind = 'phone'), '[]') as phones
    from public.customer_contacts k
    where k.customer_id = c.id
  ) x
  where c.id = p_customer_id;
  if not found then
    return null;
  end if;
  return v_doc;
end
$$;

revoke all on function private.customer_doc(uuid) from public;

-------------------------------------------------------------------------------
-- private.customer_json(id) (replaced): the same document as jsonb, for the
-- answers assembled as jsonb. Null for no guest, as before.
-------------------------------------------------------------------------------
create or replace function private.customer_json(p_customer_id uuid)
returns jsonb
language plpgsql
stable
as $$
begin
  return to_jsonb(private.customer_doc(p_customer_id));
end
$$;

-------------------------------------------------------------------------------
-- The three booking-path functions return json: dropped with their rpc()
-- wrappers (a return type cannot be replaced) and defined again.
-------------------------------------------------------------------------------
drop function public.customers_upsert(
  uuid, text, text, text, boolean, uuid, integer, timestamptz, text, timestamptz, jsonb
);
drop function public.customer_cancel(uuid, uuid, uuid, text, text, timestamptz);
drop function public.booking_update(uuid, uuid, text, integer, timestamptz, timestamptz);
drop function private.customers_upsert(
  jsonb, uuid, text, text, text, text, text, text, boolean, timestamptz, jsonb, uuid, integer,
  timestamptz, text, timestamptz, timestamptz
);
drop function private.customer_cancel(jsonb, uuid, uuid, uuid, text, text, text, timestamptz);
drop function private.booking_update(
  jsonb, uuid, uuid, text, integer, timestamptz, timestamptz, timestamptz, uuid
);

-------------------------------------------------------------------------------
-- private.customers_upsert (as in consent_speed, answering json).
-------------------------------------------------------------------------------
create function private.customers_upsert(
  p_claims jsonb,
  p_restaurant_id uuid,
  p_full_name text default null,
  p_email text default null,
  p_email_normalized text default null,
  p_phone text default null,
  p_phone_normalized text default null,
  p_phone_region text default null,
  p_marketing_opt_in boolean default false,
  p_consent_at timestamptz default null,
  p_consent jsonb default null,
  p_booking_id uuid default null,
  p_booking_covers integer default null,
  p_booking_starts_at timestamptz default null,
  p_booking_status text default null,
  p_booking_cancelled_at timestamptz default null,
  p_booking_version timestamptz default null
)
returns json
language plpgsql
set search_path = ''
set lock_timeout = '5s'
as $$
declare
  v_region text;
  v_status text := coalesce(p_booking_status, case when p_booking_cancelled_at is not null then 'cancelled' else 'confirmed' end);
  v_status_is_default boolean := p_booking_status is null and p_booking_cancelled_at is null;
  v_who record;
  v_recorded boolean;
  v_applied boolean;
  v_doc private.customer_doc;
begin
  v_region := private.authorize(p_claims, p_restaurant_id);
  perform private.check_phone_region(p_phone_region, v_region);
  if p_booking_id is not null then
    if p_booking_covers is null then
      raise exception using errcode = 'PT400', message = 'invalid_request',
        detail = 'A booking needs its covers.';
    end if;
    perform private.check_booking_change(v_status, p_booking_covers);
  end if;
  if p_consent is not null then
    if jsonb_typeof(p_consent) <> 'array' then
      raise exception using errcode = 'PT400', message = 'invalid_request',
        detail = 'consent must be a list.';
    end if;
    if exists (
      select from jsonb_array_elements(p_consent) e
      where (e ->> 'granted')::boolean is distinct from true
    ) then
      raise exception using errcode = 'PT400', message = 'invalid_request',
        detail = 'An upsert only grants consent; withdraw with customer-consent.';
    end if;
  end if;

  -- The guest is found under its contacts' locks, which a merge takes too:
  -- it cannot become a tombstone before this commits.
  select * into v_who from private.resolve_customer(
    p_restaurant_id, p_full_name, p_email, p_email_normalized, p_phone, p_phone_normalized
  );

  -- A guest created by this transaction is seen by no other until it
  -- commits: only a guest found needs the lock.
  if not v_who.created
    and (coalesce(p_marketing_opt_in, false) or jsonb_array_length(coalesce(p_consent, '[]')) > 0)
  then
    perform from public.customers c where c.id = v_who.customer_id for no key update;
  end if;

  if p_booking_id is not null then
    perform private.lock_booking(p_restaurant_id, p_booking_id);
    select b.recorded, b.applied into v_recorded, v_applied from private.apply_booking(
      p_restaurant_id, p_booking_id, v_who.customer_id, coalesce(p_booking_version, now()),
      v_status, p_booking_cancelled_at, p_booking_covers, p_booking_starts_at, v_status_is_default
    ) b;
  end if;

  -- Consent comes with the booking it was given with, never with a
  -- cancelled one; an upsert that brings none skips the call.
  if (p_booking_id is null or v_status <> 'cancelled')
    and (coalesce(p_marketing_opt_in, false) or p_consent is not null)
  then
    perform private.apply_upsert_consents(
      p_claims, p_restaurant_id, v_who.customer_id, p_marketing_opt_in, p_consent, p_consent_at,
      p_booking_id, coalesce(v_recorded, false)
    );
  end if;

  v_doc := private.customer_doc(v_who.customer_id);
  return json_build_object(
    'customer', v_doc.customer, 'profile', v_doc.profile, 'consent', v_doc.consent,
    'created', v_who.created,
    'matchedBy', v_who.matched_by,
    'conflict', v_who.conflict,
    'contactsNotSaved', v_who.contacts_not_saved,
    'contactsAdded', v_who.contacts_added,
    'bookingRecorded', v_recorded,
    'bookingApplied', v_applied
  );
end
$$;

revoke all on function private.customers_upsert(
  jsonb, uuid, text, text, text, text, text, text, boolean, timestamptz, jsonb, uuid, integer,
  timestamptz, text, timestamptz, timestamptz
) from public;

-------------------------------------------------------------------------------
-- private.customer_cancel (as in duplicates, answering json).
-------------------------------------------------------------------------------
create function private.customer_cancel(
  p_claims jsonb,
  p_restaurant_id uuid,
  p_booking_id uuid,
  p_customer_id uuid default null,
  p_email_normalized text default null,
  p_phone_normalized text default null,
  p_phone_region text default null,
  p_cancelled_at timestamptz default null
)
returns json
language plpgsql
set search_path = ''
set lock_timeout = '5s'
as $$
declare
  v_region text;
  v_customer_id uuid;
  v_at timestamptz := coalesce(p_cancelled_at, now());
  v_booking record;
  v_doc private.customer_doc;
begin
  v_region := private.authorize(p_claims, p_restaurant_id);
  perform private.check_phone_region(p_phone_region, v_region);
  if p_booking_id is null then
    raise exception using errcode = 'PT400', message = 'invalid_request',
      detail = 'bookingId is required.';
  end if;
  if p_customer_id is null and p_email_normalized is null and p_phone_normalized is null then
    raise exception using errcode = 'PT400', message = 'invalid_request',
      detail = 'Name the customer by customerId, email or phone.';
  end if;

  v_customer_id := private.find_customer(
    p_restaurant_id, p_customer_id, p_email_normalized, p_phone_normalized
  );

  perform private.lock_booking(p_restaurant_id, p_booking_id);
  -- The guest named matters only for a booking not yet known: then it is
  -- locked and followed (a known booking stays on its own guest).
  if not exists (
    select from public.customer_bookings b
    where b.restaurant_id = p_restaurant_id and b.booking_id = p_booking_id
  ) then
    v_customer_id := private.lock_live_customer(p_restaurant_id, v_customer_id);
  end if;
  select * into v_booking from private.apply_booking(
    p_restaurant_id, p_booking_id, v_customer_id, v_at, 'cancelled', v_at
  );

  v_doc := private.customer_doc(v_booking.customer_id);
  return json_build_object(
    'customer', v_doc.customer, 'profile', v_doc.profile, 'consent', v_doc.consent,
    'cancellationRecorded',
    v_booking.applied and v_booking.previous_status is distinct from 'cancelled'
  );
end
$$;

revoke all on function private.customer_cancel(jsonb, uuid, uuid, uuid, text, text, text, timestamptz) from public;

-------------------------------------------------------------------------------
-- private.booking_update (as in duplicates, answering json).
-------------------------------------------------------------------------------
create function private.booking_update(
  p_claims jsonb,
  p_restaurant_id uuid,
  p_booking_id uuid,
  p_status text default null,
  p_covers integer default null,
  p_starts_at timestamptz default null,
  p_cancelled_at timestamptz default null,
  p_version timestamptz default null,
  p_customer_id uuid default null
)
returns json
language plpgsql
set search_path = ''
set lock_timeout = '5s'
as $$
declare
  v_booking record;
  v_state public.customer_bookings;
  v_customer_id uuid;
  v_covers integer;
  v_exists boolean;
  v_doc private.customer_doc;
begin
  perform private.authorize(p_claims, p_restaurant_id);
  perform private.check_booking_change(p_status, p_covers);
  if p_booking_id is null then
    raise exception using errcode = 'PT400', message = 'invalid_request',
      detail = 'bookingId is required.';
  end if;

  perform private.lock_booking(p_restaurant_id, p_booking_id);
  select b.covers, true into v_covers, v_exists from public.customer_bookings b
  where b.restaurant_id = p_restaurant_id and b.booking_id = p_booking_id;
  -- The guest named matters only when the booking is recorded on it (not
  -- known yet, or known only from a cancellation): then it is locked and
  -- followed, as in customer_cancel.
  if p_customer_id is not null and (v_exists is null or (v_covers is null and p_covers is not null)) then
    v_customer_id := private.lock_live_customer(p_restaurant_id, p_customer_id);
  end if;
  if v_exists is null then
    if p_customer_id is null then
      raise exception using errcode = 'PT404', message = 'booking_not_found',
        detail = 'No booking of this restaurant has this id.';
    end if;
    if v_customer_id is null then
      raise exception using errcode = 'PT404', message = 'customer_not_found',
        detail = 'No customer of this restaurant matches.';
    end if;
  end if;

  select * into v_booking from private.apply_booking(
    p_restaurant_id, p_booking_id, v_customer_id, coalesce(p_version, now()),
    p_status, p_cancelled_at, p_covers, p_starts_at
  );
  select * into v_state from public.customer_bookings b
  where b.restaurant_id = p_restaurant_id and b.booking_id = p_booking_id;

  v_doc := private.customer_doc(v_booking.customer_id);
  return json_build_object(
    'customer', v_doc.customer, 'profile', v_doc.profile, 'consent', v_doc.consent,
    'booking', private.booking_json(v_state),
    'applied', v_booking.applied
  );
end
$$;

revoke all on function private.booking_update(
  jsonb, uuid, uuid, text, integer, timestamptz, timestamptz, timestamptz, uuid
) from public;

-------------------------------------------------------------------------------
-- Public RPC wrappers (as in booking_lifecycle, returning json): the same
-- functions, claims from auth.jwt(), canonical contacts only.
-------------------------------------------------------------------------------
create function public.customers_upsert(
  restaurant_id uuid,
  full_name text default null,
  email text default null,
  phone text default null,
  marketing_opt_in boolean default false,
  booking_id uuid default null,
  booking_covers integer default null,
  booking_starts_at timestamptz default null,
  booking_status text default null,
  booking_updated_at timestamptz default null,
  consent jsonb default null
)
returns json
language sql
security definer
set search_path = ''
as $$
  select private.customers_upsert(
    p_claims => coalesce((select auth.jwt()), '{}'::jsonb),
    p_restaurant_id => restaurant_id,
    p_full_name => full_name,
    p_email => email,
    p_email_normalized => email,
    p_phone => phone,
    p_phone_normalized => phone,
    p_marketing_opt_in => marketing_opt_in,
    p_booking_id => booking_id,
    p_booking_covers => booking_covers,
    p_booking_starts_at => booking_starts_at,
    p_booking_status => booking_status,
    p_booking_version => booking_updated_at,
    p_consent => consent
  )
$$;

revoke all on function public.customers_upsert(
  uuid, text, text, text, boolean, uuid, integer, timestamptz, text, timestamptz, jsonb
) from public, anon;
grant execute on function public.customers_upsert(
  uuid, text, text, text, boolean, uuid, integer, timestamptz, text, timestamptz, jsonb
) to authenticated, service_role;

create function public.customer_cancel(
  restaurant_id uuid,
  booking_id uuid,
  customer_id uuid default null,
  email text default null,
  phone text default null,
  cancelled_at timestamptz default null
)
returns json
language sql
security definer
set search_path = ''
as $$
  select private.customer_cancel(
    p_claims => coalesce((select auth.jwt()), '{}'::jsonb),
    p_restaurant_id => restaurant_id,
    p_booking_id => booking_id,
    p_customer_id => customer_id,
    p_email_normalized => email,
    p_phone_normalized => phone,
    p_cancelled_at => cancelled_at
  )
$$;

revoke all on function public.customer_cancel(uuid, uuid, uuid, text, text, timestamptz) from public, anon;
grant execute on function public.customer_cancel(uuid, uuid, uuid, text, text, timestamptz)
  to authenticated, service_role;

create function public.booking_update(
  restaurant_id uuid,
  booking_id uuid,
  status text default null,
  covers integer default null,
  starts_at timestamptz default null,
  updated_at timestamptz default null
)
returns json
language sql
security definer
set search_path = ''
as $$
  select private.booking_update(
    p_claims => coalesce((select auth.jwt()), '{}'::jsonb),
    p_restaurant_id => restaurant_id,
    p_booking_id => booking_id,
    p_status => status,
    p_covers => covers,
    p_starts_at => starts_at,
    p_version => updated_at
  )
$$;

revoke all on function public.booking_update(uuid, uuid, text, integer, timestamptz, timestamptz) from public, anon;
grant execute on function public.booking_update(uuid, uuid, text, integer, timestamptz, timestamptz)
  to authenticated, service_role;
