-- A new guest's opt-in, written with the guest: a guest that an upsert
-- creates with marketingOptIn is inserted opted in, and its profile gets its
-- opt-in time from the insert's trigger (customer_created), instead of both
-- rows being updated right after they were written.
--
-- An update of a row inserted by the same transaction pays everything again:
-- the row's CHECK, its foreign key (Postgres checks a row its own transaction
-- inserted whatever columns change), a new row version and the triggers'
-- queue. For a new guest who opts in, those two updates were most of what
-- the opt-in cost beyond its evidence row: callgrind put the opt-in at
-- +0.98M instructions on a new guest's 2.56M (PostgreSQL 18), where v0.1
-- paid nothing for it, and half of the bench's new guests opt in.
--
-- Nothing stored or answered changes:
--   * the grant's evidence is recorded as before, by record_consent, which
--     finds the guest and its profile already right and writes neither (its
--     profile update now skips a profile it would leave exactly as it is);
--   * the flag goes in with the insert only when the grant is the upsert's
--     only consent, can be recorded (its booking is not cancelled) and is
--     dated now (no earlier consentAt: the profile's opt-in time is the
--     trigger's now());
--   * if the grant is then not recorded after all (the booking was known
--     already, so not this call's to grant with), the flag and the opt-in
--     time are taken back before the call returns: no other transaction has
--     seen the guest;
--   * a guest this call created is answered from its own row whether or not
--     it recorded consent: its consent is read (consent_json), its contact
--     lists are still its primary email and phone.

-------------------------------------------------------------------------------
-- private.resolve_customer (replaced): as before, with the new guest's
-- marketing flag for its insert. A helper: it runs under its caller's
-- search_path (helper_calls).
-------------------------------------------------------------------------------
drop function private.resolve_customer(uuid, text, text, text, text, text);

create function private.resolve_customer(
  p_restaurant_id uuid,
  p_full_name text,
  p_email text,
  p_email_normalized text,
  p_phone text,
  p_phone_normalized text,
  p_marketing_opt_in boolean,
  out customer_id uuid,
  out created boolean,
  out matched_by text,
  out conflict jsonb,
  out contacts_not_saved text[],
  out contacts_added text[]
)
language plpgsql
as $$
declare
  v_name text := nullif(btrim(p_full_name), '');
  v_email text := coalesce(nullif(btrim(p_email), ''), p_email_normalized);
  v_phone text := coalesce(nullif(btrim(p_phone), ''), p_phone_normalized);
  v_by_email uuid;
  v_by_phone uuid;
  v_email_free boolean;
  v_phone_free boolean;
  v_customer public.customers;
begin
  if p_email_normalized is null and p_phone_normalized is null then
    raise exception using errcode = 'PT400', message = 'invalid_request',
      detail = 'At least one of email or phone is required.';
  end if;
  perform private.lock_contacts(p_restaurant_id, p_email_normalized, p_phone_normalized);

  if p_email_normalized is not null then
    select x.customer_id into v_by_email from public.customer_contacts x
    where x.restaurant_id = p_restaurant_id and x.kind = 'email' and x.value_normalized = p_email_normalized;
  end if;
  if p_phone_normalized is not null then
    select x.customer_id into v_by_phone from public.customer_contacts x
    where x.restaurant_id = p_restaurant_id and x.kind = 'phone' and x.value_normalized = p_phone_normalized;
  end if;
  v_email_free := p_email_normalized is not null and v_by_email is null;
  v_phone_free := p_phone_normalized is not null and v_by_phone is null;
  created := v_by_email is null and v_by_phone is null;
  contacts_not_saved := '{}';
  contacts_added := '{}';

  if created then
    insert into public.customers (
      restaurant_id, full_name, email, email_normalized, phone, phone_normalized, marketing_opt_in
    )
    values (
      p_restaurant_id, v_name,
      case when v_email_free then v_email end, p_email_normalized,
      case when v_phone_free then v_phone end, p_phone_normalized, p_marketing_opt_in
    )
    returning id into customer_id;
    -- Its profile and contacts come from the insert's triggers.
    if v_name is not null then
      perform private.note_name_duplicates(p_restaurant_id, customer_id);
    end if;
    return;
  end if;

  customer_id := coalesce(v_by_email, v_by_phone);
  matched_by := case
    when v_by_email is null then 'phone'
    when v_by_phone = v_by_email then 'email_and_phone'
    else 'email'
  end;
  if v_by_phone <> v_by_email then
    conflict := jsonb_build_object('customerId', v_by_phone, 'field', 'phone');
    perform private.note_candidate(p_restaurant_id, v_by_email, v_by_phone, 'conflict');
  end if;

  select * into v_customer from public.customers c where c.id = customer_id;

  -- A free contact fills an empty primary slot (the insert trigger adds it
  -- to the contacts), else it is kept as a secondary contact.
  if (v_customer.full_name is null and v_name is not null)
    or (v_customer.email_normalized is null and v_email_free)
    or (v_customer.phone_normalized is null and v_phone_free)
  then
    update public.customers c
    set
      full_name = coalesce(c.full_name, v_name),
      email = coalesce(c.email, case when v_email_free then v_email end),
      email_normalized = coalesce(c.email_normalized, case when v_email_free then p_email_normalized end),
      phone = coalesce(c.phone, case when v_phone_free then v_phone end),
      phone_normalized = coalesce(c.phone_normalized, case when v_phone_free then p_phone_normalized end),
      updated_at = now()
    where c.id = customer_id;
  end if;
  if v_email_free then
    contacts_added := contacts_added || 'email'::text;
    if v_customer.email_normalized is not null then
      insert into public.customer_contacts (restaurant_id, customer_id, kind, value_normalized, display, added_by)
      values (p_restaurant_id, customer_id, 'email', p_email_normalized, v_email, 'upsert');
    end if;
  end if;
  if v_phone_free then
    contacts_added := contacts_added || 'phone'::text;
    if v_customer.phone_normalized is not null then
      insert into public.customer_contacts (restaurant_id, customer_id, kind, value_normalized, display, added_by)
      values (p_restaurant_id, customer_id, 'phone', p_phone_normalized, v_phone, 'upsert');
    end if;
  end if;
  if (v_email_free or v_phone_free or (v_customer.full_name is null and v_name is not null))
    and coalesce(v_customer.full_name, v_name) is not null
  then
    perform private.note_name_duplicates(p_restaurant_id, customer_id);
  end if;
end
$$;

revoke all on function private.resolve_customer(uuid, text, text, text, text, text, boolean) from public;

-------------------------------------------------------------------------------
-- private.record_consent (replaced): as before, but a profile this event
-- does not change is not written. A helper, as before.
-------------------------------------------------------------------------------
create or replace function private.record_consent(
  p_restaurant_id uuid,
  p_customer_id uuid,
  p_channel text,
  p_grant boolean,
  p_source text,
  p_actor text,
  p_wording text default null,
  p_occurred_at timestamptz default null,
  p_idempotency_key text default null
)
returns boolean
language plpgsql
as $$
declare
  v_action text := case when p_grant then 'grant' else 'withdraw' end;
  v_wording_id uuid;
  v_current public.consent_events;
  -- Never in the future: a future-dated grant would outlast every withdrawal.
  v_at timestamptz := least(coalesce(p_occurred_at, now()), now());
  -- The email channel's state once this event is in: whether it is a
  -- grant, and since when.
  v_wins boolean;
  v_granted boolean;
  v_state_at timestamptz;
begin
  if p_channel is null or p_channel not in ('email', 'sms') then
    raise exception using errcode = 'PT400', message = 'invalid_request',
      detail = 'channel must be email or sms.';
  end if;
  if p_idempotency_key is not null and exists (
    select from public.consent_events e
    where e.restaurant_id = p_restaurant_id and e.idempotency_key = p_idempotency_key
  ) then
    return false;
  end if;
  if p_wording is not null then
    insert into public.consent_wordings (restaurant_id, channel, wording)
    values (p_restaurant_id, p_channel, p_wording)
    on conflict (restaurant_id, channel, md5(wording)) do nothing;
    select w.id into v_wording_id from public.consent_wordings w
    where w.restaurant_id = p_restaurant_id and w.channel = p_channel
      and md5(w.wording) = md5(p_wording);
  end if;

  -- consent_state's query, in place: a call with a SET clause costs more than the read.
  select e.* into v_current from public.consent_events e
  where e.customer_id = p_customer_id and e.channel = p_channel
  order by e.occurred_at desc, e.action desc
  limit 1;
  if v_current.action = v_action and v_current.wording_id is not distinct from v_wording_id
    and v_at >= v_current.occurred_at
  then
    return false;
  end if;

  insert into public.consent_events (
    restaurant_id, customer_id, channel, action, source, wording_id, actor, occurred_at, idempotency_key
  )
  values (
    p_restaurant_id, p_customer_id, p_channel, v_action, p_source, v_wording_id, p_actor, v_at,
    p_idempotency_key
  );

  if p_channel = 'email' then
    -- The state after the insert is the later of the state before it and
    -- this event, in consent_state's order (by time; at a tie, a withdrawal
    -- first): no second read. The caller's row lock keeps others' events out.
    v_wins := v_current.occurred_at is null or v_at > v_current.occurred_at
      or (v_at = v_current.occurred_at and v_action >= v_current.action);
    v_granted := case when v_wins then p_grant else v_current.action = 'grant' end;
    v_state_at := case when v_wins then v_at else v_current.occurred_at end;
    update public.customers c
    set marketing_opt_in = v_granted, updated_at = now()
    where c.id = p_customer_id and c.marketing_opt_in is distinct from v_granted;
    -- A profile the update would leave as it is is not written: one this
    -- transaction wrote already (updated_at is now()) that has the opt-in
    -- time and opt-out time the update would set, as a guest created with
    -- its opt-in has from its insert (customer_created). The condition says
    -- when the SET below changes something; any other profile's updated_at
    -- moves as before.
    update public.customer_profiles p
    set marketing_opt_in_at = case when v_granted
          then coalesce(p.marketing_opt_in_at, v_state_at) else p.marketing_opt_in_at end,
        marketing_opt_out_at = case when v_action = 'withdraw'
          then greatest(p.marketing_opt_out_at, v_at) else p.marketing_opt_out_at end,
        updated_at = now()
    where p.customer_id = p_customer_id
      and (p.updated_at <> now()
           or (v_granted and p.marketing_opt_in_at is null)
           or (v_action = 'withdraw' and (p.marketing_opt_out_at is null or p.marketing_opt_out_at < v_at)));
  end if;
  return true;
end
$$;

revoke all on function private.record_consent(
  uuid, uuid, text, boolean, text, text, text, timestamptz, text
) from public;

-------------------------------------------------------------------------------
-- private.customers_upsert (replaced): a new guest's opt-in with its insert;
-- a guest it created answered from its own row, with or without consent.
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
  v_granted integer;
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
  -- A guest this call creates with marketingOptIn gets it in its insert (and
  -- its profile's opt-in time from customer_created), not in updates of rows
  -- it has just written: when the grant is the only consent, can be
  -- recorded (no cancelled booking) and is dated now.
  v_who := private.resolve_customer(
    p_restaurant_id, p_full_name, p_email, p_email_normalized, p_phone, p_phone_normalized,
    coalesce(p_marketing_opt_in, false) and p_consent is null
      and (p_booking_id is null or v_status <> 'cancelled')
      and (p_consent_at is null or p_consent_at >= now())
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
    v_granted := private.apply_upsert_consents(
      p_claims, p_restaurant_id, v_who.customer_id, p_marketing_opt_in, p_consent, p_consent_at,
      p_booking_id, coalesce(v_recorded, false)
    );
    -- A grant given with the insert that was then not recorded (its booking
    -- was known already, so not this call's to grant with) is taken back.
    -- The flag goes in with the insert only when marketingOptIn is the only
    -- consent, so no grant recorded means not that one. The rules the insert
    -- relies on live where they did (the cancelled booking in the condition
    -- above, the grant's date in record_consent); tests/sql_core.test.ts
    -- pins that a new guest's opt-in time is its grant's.
    if v_who.created and v_granted = 0 then
      update public.customers c set marketing_opt_in = false
      where c.id = v_who.customer_id and c.marketing_opt_in;
      update public.customer_profiles p set marketing_opt_in_at = null
      where p.customer_id = v_who.customer_id and p.marketing_opt_in_at is not null;
    end if;
  end if;

  -- A guest this call created has exactly the contacts it was created with,
  -- and only the consent this call recorded: no other transaction sees it
  -- before this one commits.
  if v_who.created then
    select (private.customer_doc_of(
      c, p,
      case when c.email_normalized is null then '[]' else json_build_array(c.email_normalized) end,
      case when c.phone_normalized is null then '[]' else json_build_array(c.phone_normalized) end,
      case when v_consented then private.consent_json(c.id) else private.consent_none() end
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
