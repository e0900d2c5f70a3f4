-- The upsert's answer and calls: fewer statements on the hot path, the same
-- answers.
--
-- * A guest this call created is answered from its own row and profile: its
--   contact lists are its primary email and phone (the contacts its insert
--   added), and its consent is none unless this call recorded some. No other
--   transaction sees the guest before this one commits, so nothing else can
--   have been added. That skips the contact lists' ordered aggregates and
--   the consent events' scan of the full document (private.customer_doc),
--   which a returning guest, a cancellation and a booking update still read.
-- * A guest's shape is still written once: private.customer_doc_of builds
--   the three parts from a guest row, its profile, its contact lists and its
--   consent. Both new functions are single-expression SQL, which the planner
--   inlines into the queries that call them (EXPLAIN shows plain columns, no
--   call; consent_json runs once although `(…).*` names three fields): they
--   must stay free of SET clauses, STRICT and PL/pgSQL, or each field of the
--   document would call them again. customer_doc_of's body is a string, not
--   a SQL-standard body: a standard body would record a dependency on each
--   of the 20 columns it reads, and a later migration could no longer change
--   one's type (as row_checks did for the counters) without dropping it. The
--   document's empty consent is private.consent_none, for consent_json too.
-- * resolve_customer and apply_booking are called as expressions
--   (`v := f(...)`), not as `select ... from f(...)`: PL/pgSQL evaluates a
--   plain expression without starting an executor for a function scan and
--   its tuple store.
-- * private.lock_booking is one SQL expression: with no SET clause left
--   (helper_calls), the planner inlines it into the caller's `perform`, so
--   taking the booking lock costs no PL/pgSQL call.
-- Measured (npm run bench:instructions, PostgreSQL 18, instructions per
-- upsert, each change alone on the tree before it; BENCHMARKS.md):
--   new guest         answer 2.805M -> 2.620M   calls 2.805M -> 2.747M
--   returning guest   answer 1.660M -> 1.667M   calls 1.660M -> 1.602M
--   the booking lock, on the tree with both: new 2.571M -> 2.560M,
--   returning 1.608M -> 1.593M
-- Measured and not kept: both contact probes as one statement (email and
-- phone as array keys of one index scan): 2.805M -> 2.829M new, 1.660M ->
-- 1.704M returning.

-------------------------------------------------------------------------------
-- private.consent_none(): the consent part of a guest who has none.
-------------------------------------------------------------------------------
create function private.consent_none()
returns jsonb
language sql
immutable
return '{"email": {"state": "none", "at": null, "source": null},
         "sms": {"state": "none", "at": null, "source": null}}'::jsonb;

revoke all on function private.consent_none() from public;

-------------------------------------------------------------------------------
-- private.customer_doc_of(guest, profile, emails, phones, consent): the API
-- shape of a guest in three parts (private.customer_doc) from what the
-- caller read. The only place that names the answer's keys.
-------------------------------------------------------------------------------
create function private.customer_doc_of(
  c public.customers,
  p public.customer_profiles,
  p_emails json,
  p_phones json,
  p_consent jsonb
)
returns private.customer_doc
language sql
stable
as $$
select row(
  json_build_object(
    'id', c.id,
    'restaurantId', c.restaurant_id,
    'name', c.full_name,
    'email', c.email_normalized,
    'phone', c.phone_normalized,
    'emails', p_emails,
    'phones', p_phones,
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
  p_consent
)::private.customer_doc
$$;

revoke all on function private.customer_doc_of(
  public.customers, public.customer_profiles, json, json, jsonb
) from public;

-------------------------------------------------------------------------------
-- private.lock_booking (replaced): serializes everything that records events
-- of one booking (as before), now as an expression the caller inlines.
-------------------------------------------------------------------------------
create or replace function private.lock_booking(p_restaurant_id uuid, p_booking_id uuid)
returns void
language sql
return pg_advisory_xact_lock(hashtextextended(p_restaurant_id::text || ' b ' || p_booking_id::text, 0));

revoke all on function private.lock_booking(uuid, uuid) from public;

-------------------------------------------------------------------------------
-- private.consent_json(id) (replaced): the empty state from consent_none.
-------------------------------------------------------------------------------
create or replace function private.consent_json(p_customer_id uuid)
returns jsonb
language plpgsql
stable
as $$
begin
  return private.consent_none() || coalesce((
      select jsonb_object_agg(l.channel, jsonb_build_object(
        'state', case when l.action = 'grant' then 'granted' else 'withdrawn' end,
        'at', l.occurred_at,
        'source', l.source
      ))
      from (
        select distinct on (e.channel) e.channel, e.action, e.occurred_at, e.source
        from public.consent_events e
        where e.customer_id = p_customer_id
        order by e.channel, e.occurred_at desc, e.action desc
      ) l
    ), '{}');
end
$$;

revoke all on function private.consent_json(uuid) from public;

-------------------------------------------------------------------------------
-- private.customer_doc(id) (replaced): the document through customer_doc_of.
-- A helper: it runs under its caller's search_path.
-------------------------------------------------------------------------------
create or replace function private.customer_doc(p_customer_id uuid)
returns private.customer_doc
language plpgsql
stable
as $$
declare
  v_doc private.customer_doc;
begin
  select (private.customer_doc_of(c, p, x.emails, x.phones, private.consent_json(c.id))).*
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
-- private.customers_upsert (replaced): its helpers called as expressions; a
-- guest it created answered from its own row.
-------------------------------------------------------------------------------
create or replace function private.customers_upsert(
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
  v_booking record;
  v_consented boolean := false;
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
  v_who := private.resolve_customer(
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
    v_booking := private.apply_booking(
      p_restaurant_id, p_booking_id, v_who.customer_id, coalesce(p_booking_version, now()),
      v_status, p_booking_cancelled_at, p_booking_covers, p_booking_starts_at, v_status_is_default
    );
    v_recorded := v_booking.recorded;
    v_applied := v_booking.applied;
  end if;

  -- Consent comes with the booking it was given with, never with a
  -- cancelled one; an upsert that brings none skips the call.
  if (p_booking_id is null or v_status <> 'cancelled')
    and (coalesce(p_marketing_opt_in, false) or p_consent is not null)
  then
    v_consented := true;
    perform private.apply_upsert_consents(
      p_claims, p_restaurant_id, v_who.customer_id, p_marketing_opt_in, p_consent, p_consent_at,
      p_booking_id, coalesce(v_recorded, false)
    );
  end if;

  -- A guest this call created has exactly the contacts it was created with
  -- and, unless this call recorded some, no consent: no other transaction
  -- sees it before this one commits.
  if v_who.created and not v_consented then
    select (private.customer_doc_of(
      c, p,
      case when c.email_normalized is null then '[]' else json_build_array(c.email_normalized) end,
      case when c.phone_normalized is null then '[]' else json_build_array(c.phone_normalized) end,
      private.consent_none()
    )).*
    into v_doc
    from public.customers c
    join public.customer_profiles p on p.customer_id = c.id
    where c.id = v_who.customer_id;
  else
    v_doc := private.customer_doc(v_who.customer_id);
  end if;
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
-- private.customer_cancel (replaced): apply_booking called as an expression.
-------------------------------------------------------------------------------
create or replace function private.customer_cancel(
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
  v_booking := private.apply_booking(
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
-- private.booking_update (replaced): apply_booking called as an expression.
-------------------------------------------------------------------------------
create or replace function private.booking_update(
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

  v_booking := private.apply_booking(
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
