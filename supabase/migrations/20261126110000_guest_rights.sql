-- Guest look-up, subject-access export and erasure.
--
-- Look-up finds a guest by id or by normalized contact without writing.
-- Export returns everything the module holds about one guest. Erasure
-- removes every personal datum of a guest in one transaction (name,
-- contacts, the host's copies in public.bookings) and keeps the anonymous
-- facts (booking states, covers, statuses, times) on an erased-guest
-- tombstone, so the restaurant's totals do not move. Each erasure leaves a
-- record without guest data: when, by whom (role and sub), and a reason code.

-------------------------------------------------------------------------------
-- Tombstones
-------------------------------------------------------------------------------
alter table public.customers
  add column erased_at timestamptz,
  drop constraint customers_has_contact,
  add constraint customers_has_contact
    check (erased_at is not null or email_normalized is not null or phone_normalized is not null),
  add constraint customers_erased_holds_nothing check (
    erased_at is null
    or (full_name is null and email is null and email_normalized is null
        and phone is null and phone_normalized is null and not marketing_opt_in)
  );

create table public.customer_erasures (
  id uuid primary key default gen_random_uuid(),
  restaurant_id uuid not null references public.restaurants (id) on delete cascade,
  customer_id uuid not null,
  erased_at timestamptz not null default now(),
  -- Who asked: the verified role and, for staff, their auth user id. No
  -- guest data, and the reason is a code, never free text.
  actor_role text not null check (actor_role in ('service_role', 'authenticated')),
  actor_sub uuid,
  reason text not null check (reason ~ '^[a-z][a-z0-9_]{0,39}$'),
  forced boolean not null,
  constraint customer_erasures_customer_fkey foreign key (restaurant_id, customer_id)
    references public.customers (restaurant_id, id) on delete cascade,
  constraint customer_erasures_once unique (customer_id)
);

alter table public.customer_erasures enable row level security;
revoke all on public.customer_erasures from anon, authenticated;
grant select on public.customer_erasures to authenticated;
grant all on public.customer_erasures to service_role;

create policy customer_erasures_staff_read on public.customer_erasures
  for select to authenticated
  using ((select private.is_member(restaurant_id)));

-------------------------------------------------------------------------------
-- private.authorize_manager: private.authorize, and staff must be the
-- restaurant's owner or manager (PT403 otherwise). Export and erasure are
-- theirs and the service's only.
-------------------------------------------------------------------------------
create function private.authorize_manager(p_claims jsonb, p_restaurant_id uuid)
returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  v_region text := private.authorize(p_claims, p_restaurant_id);
begin
  if p_claims ->> 'role' = 'service_role' or exists (
    select from public.restaurant_memberships m
    where m.restaurant_id = p_restaurant_id
      and m.user_id = (p_claims ->> 'sub')::uuid
      and m.role in ('owner', 'manager')
  ) then
    return v_region;
  end if;
  raise exception using errcode = 'PT403', message = 'forbidden',
    detail = 'Only the restaurant''s owners and managers may do this.';
end
$$;

revoke all on function private.authorize_manager(jsonb, uuid) from public;

-- private.customer_json gains erasedAt (null for a live guest). plpgsql: a
-- sql function called from plpgsql is planned again on every call (before 18).
create or replace function private.customer_json(c public.customers, p public.customer_profiles)
returns jsonb
language plpgsql
immutable
set search_path = ''
as $$
begin
  return jsonb_build_object(
    'customer', jsonb_build_object(
      'id', c.id,
      'restaurantId', c.restaurant_id,
      'name', c.full_name,
      'email', c.email_normalized,
      'phone', c.phone_normalized,
      'marketingOptIn', c.marketing_opt_in,
      'createdAt', c.created_at,
      'updatedAt', c.updated_at,
      'erasedAt', c.erased_at
    ),
    'profile', jsonb_build_object(
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
    )
  );
end
$$;

-------------------------------------------------------------------------------
-- private.customer_lookup
-- Finds a live guest by id, or by normalized email and/or phone, without
-- writing anything. Email first when both are given and they point at two
-- guests: that guest is returned and the other reported (conflict), as the
-- upsert does. An erased guest is not found. PT404 customer_not_found.
-- Returns customer, profile, matchedBy ('id', 'email', 'phone',
-- 'email_and_phone') and conflict.
-------------------------------------------------------------------------------
create function private.customer_lookup(
  p_claims jsonb,
  p_restaurant_id uuid,
  p_customer_id uuid default null,
  p_email_normalized text default null,
  p_phone_normalized text default null,
  p_phone_region text default null
)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_region text;
  v_by_email uuid;
  v_by_phone uuid;
  v_found uuid;
  v_matched_by text;
begin
  v_region := private.authorize(p_claims, p_restaurant_id);
  perform private.check_phone_region(p_phone_region, v_region);
  if p_customer_id is null and p_email_normalized is null and p_phone_normalized is null then
    raise exception using errcode = 'PT400', message = 'invalid_request',
      detail = 'Give a customerId, an email or a phone.';
  end if;

  if p_customer_id is not null then
    select c.id into v_found from public.customers c
    where c.id = p_customer_id and c.restaurant_id = p_restaurant_id and c.erased_at is null;
    v_matched_by := 'id';
  else
    select c.id into v_by_email from public.customers c
    where c.restaurant_id = p_restaurant_id and c.email_normalized = p_email_normalized;
    select c.id into v_by_phone from public.customers c
    where c.restaurant_id = p_restaurant_id and c.phone_normalized = p_phone_normalized;
    v_found := coalesce(v_by_email, v_by_phone);
    v_matched_by := case
      when v_by_email is null then 'phone'
      when v_by_phone = v_by_email then 'email_and_phone'
      else 'email'
    end;
  end if;
  if v_found is null then
    raise exception using errcode = 'PT404', message = 'customer_not_found',
      detail = 'No customer of this restaurant matches.';
  end if;

  return private.customer_json(v_found) || jsonb_build_object(
    'matchedBy', v_matched_by,
    'conflict', case when v_by_phone <> v_by_email
      then jsonb_build_object('customerId', v_by_phone, 'field', 'phone') end
  );
end
$$;

revoke all on function private.customer_lookup(jsonb, uuid, uuid, text, text, text) from public;

-------------------------------------------------------------------------------
-- private.customer_export
-- Everything the module holds about one guest (subject access): the
-- customer with its contacts, the profile, every booking's state with the
-- host's own row for it, the erasure record if any, and when the document
-- was made. Owners, managers and the service only. An erased guest's
-- export holds the tombstone's anonymous facts only. PT404
-- customer_not_found for an id that is not this restaurant's.
-------------------------------------------------------------------------------
create function private.customer_export(p_claims jsonb, p_restaurant_id uuid, p_customer_id uuid)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_doc jsonb;
begin
  perform private.authorize_manager(p_claims, p_restaurant_id);
  if not exists (
    select from public.customers c where c.id = p_customer_id and c.restaurant_id = p_restaurant_id
  ) then
    raise exception using errcode = 'PT404', message = 'customer_not_found',
      detail = 'No customer of this restaurant matches.';
  end if;

  select private.customer_json(p_customer_id) || jsonb_build_object(
    'contacts', jsonb_build_object(
      'emails', coalesce(
        (select jsonb_agg(jsonb_build_object('email', c.email_normalized, 'display', c.email))
         from public.customers c where c.id = p_customer_id and c.email_normalized is not null),
        '[]'
      ),
      'phones', coalesce(
        (select jsonb_agg(jsonb_build_object('phone', c.phone_normalized, 'display', c.phone))
         from public.customers c where c.id = p_customer_id and c.phone_normalized is not null),
        '[]'
      )
    ),
    'bookings', coalesce((
      select jsonb_agg(
        private.booking_json(b) || jsonb_build_object('hostRow', (
          select jsonb_build_object(
            'customerName', h.customer_name,
            'customerEmail', h.customer_email,
            'customerPhone', h.customer_phone,
            'partySize', h.party_size,
            'startAt', h.start_at,
            'status', h.status,
            'marketingOptIn', h.marketing_opt_in,
            'cancelledAt', h.cancelled_at,
            'createdAt', h.created_at,
            'updatedAt', h.updated_at
          )
          from public.bookings h
          where h.id = b.booking_id and h.restaurant_id = b.restaurant_id
        ))
        order by b.starts_at, b.booking_id
      )
      from public.customer_bookings b
      where b.customer_id = p_customer_id
    ), '[]'),
    'erasure', (
      select jsonb_build_object('erasedAt', e.erased_at, 'reason', e.reason, 'actorRole', e.actor_role)
      from public.customer_erasures e where e.customer_id = p_customer_id
    ),
    'exportedAt', now()
  ) into v_doc;
  return v_doc;
end
$$;

revoke all on function private.customer_export(jsonb, uuid, uuid) from public;

-------------------------------------------------------------------------------
-- private.customer_erase
-- Removes every personal datum of a guest in one transaction and keeps the
-- anonymous facts on a tombstone:
--   * customers: name, email, phone (display and normalized) and the
--     opt-in are cleared, erased_at is set; the old contacts are free, so
--     they make a new guest next time, with no link to this one;
--   * public.bookings: customer_name, customer_email and customer_phone of
--     every row of the guest's bookings are cleared;
--   * booking states, covers, statuses and times stay, on the tombstone,
--     so every total of the restaurant stays the same;
--   * customer_erasures: when, by whom (role, sub) and the reason code.
-- A guest with a booking still to come (pending or confirmed, in the
-- future) is PT409 has_future_bookings unless p_force. Erasing an erased
-- guest changes nothing and answers erased: false. Contact locks (then the
-- row) order this against a concurrent upsert of the same contacts.
-------------------------------------------------------------------------------
create function private.customer_erase(
  p_claims jsonb,
  p_restaurant_id uuid,
  p_customer_id uuid,
  p_reason text default null,
  p_force boolean default false
)
returns jsonb
language plpgsql
set search_path = ''
set lock_timeout = '5s'
as $$
declare
  v_customer public.customers;
  v_reason text := coalesce(p_reason, 'guest_request');
begin
  perform private.authorize_manager(p_claims, p_restaurant_id);
  if v_reason !~ '^[a-z][a-z0-9_]{0,39}$' then
    raise exception using errcode = 'PT400', message = 'invalid_request',
      detail = 'reason must be a code: lower-case letters, digits and _, at most 40.';
  end if;

  select * into v_customer from public.customers c
  where c.id = p_customer_id and c.restaurant_id = p_restaurant_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'customer_not_found',
      detail = 'No customer of this restaurant matches.';
  end if;
  perform private.lock_contacts(p_restaurant_id, v_customer.email_normalized, v_customer.phone_normalized);
  select * into v_customer from public.customers c where c.id = p_customer_id for update;

  if v_customer.erased_at is not null then
    return private.customer_json(p_customer_id) || jsonb_build_object('erased', false);
  end if;
  if not coalesce(p_force, false) and exists (
    select from public.customer_bookings b
    where b.customer_id = p_customer_id and b.starts_at > now() and b.status in ('pending', 'confirmed')
  ) then
    raise exception using errcode = 'PT409', message = 'has_future_bookings',
      detail = 'The guest has a booking still to come; erase with force to proceed.';
  end if;

  -- The module's own clearing of the host's rows is not news for the module:
  -- no webhook carries their old values (private.booking_webhook reads this).
  perform set_config('customers.erasing', 'on', true);
  update public.bookings h
  set customer_name = null, customer_email = null, customer_phone = null
  where h.restaurant_id = p_restaurant_id
    and (h.customer_id = p_customer_id
         or h.id in (select b.booking_id from public.customer_bookings b where b.customer_id = p_customer_id))
    and (h.customer_name is not null or h.customer_email is not null or h.customer_phone is not null);

  update public.customers c
  set full_name = null, email = null, email_normalized = null, phone = null, phone_normalized = null,
      marketing_opt_in = false, erased_at = now(), updated_at = now()
  where c.id = p_customer_id;

  perform set_config('customers.erasing', 'off', true);

  insert into public.customer_erasures (restaurant_id, customer_id, actor_role, actor_sub, reason, forced)
  values (
    p_restaurant_id, p_customer_id, p_claims ->> 'role',
    case when p_claims ->> 'role' = 'authenticated' then (p_claims ->> 'sub')::uuid end,
    v_reason, coalesce(p_force, false)
  );

  return private.customer_json(p_customer_id) || jsonb_build_object('erased', true);
end
$$;

revoke all on function private.customer_erase(jsonb, uuid, uuid, text, boolean) from public;

-------------------------------------------------------------------------------
-- Public RPC wrappers: the same functions and rules, claims from auth.jwt().
-------------------------------------------------------------------------------
create function public.customer_lookup(
  restaurant_id uuid,
  customer_id uuid default null,
  email text default null,
  phone text default null
)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select private.customer_lookup(
    p_claims => coalesce((select auth.jwt()), '{}'::jsonb),
    p_restaurant_id => restaurant_id,
    p_customer_id => customer_id,
    p_email_normalized => email,
    p_phone_normalized => phone
  )
$$;

revoke all on function public.customer_lookup(uuid, uuid, text, text) from public, anon;
grant execute on function public.customer_lookup(uuid, uuid, text, text) to authenticated, service_role;

create function public.customer_export(restaurant_id uuid, customer_id uuid)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select private.customer_export(
    p_claims => coalesce((select auth.jwt()), '{}'::jsonb),
    p_restaurant_id => restaurant_id,
    p_customer_id => customer_id
  )
$$;

revoke all on function public.customer_export(uuid, uuid) from public, anon;
grant execute on function public.customer_export(uuid, uuid) to authenticated, service_role;

create function public.customer_erase(
  restaurant_id uuid,
  customer_id uuid,
  reason text default null,
  force boolean default false
)
returns jsonb
language sql
security definer
set search_path = ''
as $$
  select private.customer_erase(
    p_claims => coalesce((select auth.jwt()), '{}'::jsonb),
    p_restaurant_id => restaurant_id,
    p_customer_id => customer_id,
    p_reason => reason,
    p_force => force
  )
$$;

revoke all on function public.customer_erase(uuid, uuid, text, boolean) from public, anon;
grant execute on function public.customer_erase(uuid, uuid, text, boolean) to authenticated, service_role;
