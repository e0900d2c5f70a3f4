-- Customers module, database core.
--
-- The database owns every invariant: contacts are stored only in canonical
-- form (CHECK constraints), identity resolution happens under advisory locks
-- in one transaction, and guest statistics are derived from an append-only
-- ledger keyed by (restaurant, booking, kind), so an event counts at most once
-- whatever the order or number of its deliveries.
--
-- Callers: the edge functions connect as the table owner and call the
-- private.* functions with the claims they verified; PostgREST callers use
-- the public.* wrappers, which read the same claims from auth.jwt().

create schema if not exists private;
revoke all on schema private from public;

-------------------------------------------------------------------------------
-- Tables
-------------------------------------------------------------------------------

create table public.restaurants (
  id uuid primary key default gen_random_uuid(),
  name text not null check (btrim(name) <> '' and length(name) <= 200),
  -- ISO 3166-1 alpha-2 default country for national-format phone numbers.
  phone_region text not null default 'US' check (phone_region ~ '^[A-Z]{2}$'),
  created_at timestamptz not null default now()
);

create table public.restaurant_memberships (
  restaurant_id uuid not null references public.restaurants (id) on delete cascade,
  -- Supabase auth user id (the JWT's sub claim).
  user_id uuid not null,
  role text not null default 'staff' check (role in ('owner', 'manager', 'staff')),
  created_at timestamptz not null default now(),
  primary key (restaurant_id, user_id)
);

create index restaurant_memberships_user_id_idx
  on public.restaurant_memberships (user_id);

create table public.customers (
  id uuid primary key default gen_random_uuid(),
  restaurant_id uuid not null references public.restaurants (id) on delete cascade,
  full_name text
    check (full_name is null or (full_name = btrim(full_name) and full_name <> '' and length(full_name) <= 200)),
  -- Display forms: the email as first given (trimmed), the phone in
  -- international format. Lookups use the *_normalized columns only.
  email text check (email is null or (email = btrim(email) and email <> '' and length(email) <= 320)),
  phone text check (phone is null or (phone = btrim(phone) and phone <> '' and length(phone) <= 40)),
  -- Lower-cased, domain in ASCII (IDNA), no white space.
  email_normalized text check (
    email_normalized is null
    or (
      email_normalized = lower(email_normalized)
      and length(email_normalized) <= 320
      and email_normalized ~ '^[^@[:space:]]{1,64}@[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$'
    )
  ),
  -- E.164: '+', country code, subscriber number; at most 15 digits.
  phone_normalized text check (phone_normalized is null or phone_normalized ~ '^\+[1-9][0-9]{6,14}$'),
  marketing_opt_in boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint customers_has_contact check (email_normalized is not null or phone_normalized is not null),
  constraint customers_email_pair check ((email is null) = (email_normalized is null)),
  constraint customers_phone_pair check ((phone is null) = (phone_normalized is null)),
  constraint customers_restaurant_email_key unique (restaurant_id, email_normalized),
  constraint customers_restaurant_phone_key unique (restaurant_id, phone_normalized),
  -- Lets other tables require that a customer belongs to their restaurant.
  constraint customers_restaurant_id_key unique (restaurant_id, id)
);

create table public.customer_profiles (
  customer_id uuid primary key references public.customers (id) on delete cascade,
  -- Denormalized so row-level security needs no join.
  restaurant_id uuid not null references public.restaurants (id) on delete cascade,
  total_bookings integer not null default 0 check (total_bookings >= 0),
  total_covers integer not null default 0 check (total_covers >= 0),
  total_cancellations integer not null default 0 check (total_cancellations >= 0),
  first_booking_at timestamptz,
  last_booking_at timestamptz,
  -- First time marketing opt-in became true; never moved afterwards.
  marketing_opt_in_at timestamptz,
  -- Last explicit opt-out (private.set_marketing_consent).
  marketing_opt_out_at timestamptz,
  updated_at timestamptz not null default now()
);

create index customer_profiles_restaurant_id_idx on public.customer_profiles (restaurant_id);

-- private.create_customer_profile: every customer has a profile, however it
-- was inserted (an import by the host, a service script), so no event can
-- be recorded in the ledger without its counters moving.
create function private.create_customer_profile()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  insert into public.customer_profiles (customer_id, restaurant_id, marketing_opt_in_at)
  values (new.id, new.restaurant_id, case when new.marketing_opt_in then now() end)
  on conflict (customer_id) do nothing;
  return null;
end
$$;

create trigger create_customer_profile
  after insert on public.customers
  for each row
  execute function private.create_customer_profile();

-- The ledger: one row per applied event. Its primary key is what makes every
-- booking and cancellation count exactly once.
create table public.customer_booking_events (
  restaurant_id uuid not null references public.restaurants (id) on delete cascade,
  booking_id uuid not null,
  kind text not null check (kind in ('booking', 'cancellation')),
  customer_id uuid not null,
  covers integer,
  -- Visit time for a booking (when known), cancellation time for a cancellation.
  occurred_at timestamptz not null,
  recorded_at timestamptz not null default now(),
  primary key (restaurant_id, booking_id, kind),
  constraint customer_booking_events_customer_fkey foreign key (restaurant_id, customer_id)
    references public.customers (restaurant_id, id) on delete cascade,
  constraint customer_booking_events_covers check (
    (kind = 'booking' and covers between 1 and 1000) or (kind = 'cancellation' and covers is null)
  )
);

create index customer_booking_events_customer_id_idx on public.customer_booking_events (customer_id);

-- The host application's bookings, watched by Database Webhooks.
create table public.bookings (
  id uuid primary key default gen_random_uuid(),
  restaurant_id uuid not null references public.restaurants (id) on delete cascade,
  customer_id uuid,
  customer_name text,
  customer_email text,
  customer_phone text,
  party_size integer not null check (party_size between 1 and 1000),
  start_at timestamptz not null,
  status text not null default 'pending'
    check (status in ('pending', 'confirmed', 'cancelled', 'completed', 'no_show')),
  marketing_opt_in boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- A booking's customer is one of its own restaurant's customers.
  constraint bookings_customer_fkey foreign key (restaurant_id, customer_id)
    references public.customers (restaurant_id, id) on delete set null (customer_id)
);

create index bookings_restaurant_id_start_at_idx on public.bookings (restaurant_id, start_at);

-------------------------------------------------------------------------------
-- Row-level security and table grants
-------------------------------------------------------------------------------

alter table public.restaurants enable row level security;
alter table public.restaurant_memberships enable row level security;
alter table public.customers enable row level security;
alter table public.customer_profiles enable row level security;
alter table public.customer_booking_events enable row level security;
alter table public.bookings enable row level security;

-- Supabase grants everything in public to the API roles by default; state the
-- intended grants explicitly so plain PostgreSQL and hosted projects agree.
revoke all on public.restaurants, public.restaurant_memberships, public.customers,
  public.customer_profiles, public.customer_booking_events, public.bookings
  from anon, authenticated;
grant select on public.restaurants, public.restaurant_memberships, public.customers,
  public.customer_profiles, public.customer_booking_events
  to authenticated;
grant select, insert, update on public.bookings to authenticated;
grant all on public.restaurants, public.restaurant_memberships, public.customers,
  public.customer_profiles, public.customer_booking_events, public.bookings
  to service_role;

-- private.is_member: true when the current auth user is staff of the restaurant.
-- Security definer so policies can consult memberships without recursion.
create function private.is_member(p_restaurant_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1
    from public.restaurant_memberships m
    where m.restaurant_id = p_restaurant_id
      and m.user_id = (select auth.uid())
  )
$$;

revoke all on function private.is_member(uuid) from public;
grant usage on schema private to authenticated;
grant execute on function private.is_member(uuid) to authenticated;

create policy restaurants_staff_read on public.restaurants
  for select to authenticated
  using ((select private.is_member(id)));

create policy memberships_self_read on public.restaurant_memberships
  for select to authenticated
  using (user_id = (select auth.uid()));

create policy customers_staff_read on public.customers
  for select to authenticated
  using ((select private.is_member(restaurant_id)));

create policy customer_profiles_staff_read on public.customer_profiles
  for select to authenticated
  using ((select private.is_member(restaurant_id)));

create policy customer_booking_events_staff_read on public.customer_booking_events
  for select to authenticated
  using ((select private.is_member(restaurant_id)));

create policy bookings_staff_read on public.bookings
  for select to authenticated
  using ((select private.is_member(restaurant_id)));

create policy bookings_staff_insert on public.bookings
  for insert to authenticated
  with check ((select private.is_member(restaurant_id)));

create policy bookings_staff_update on public.bookings
  for update to authenticated
  using ((select private.is_member(restaurant_id)))
  with check ((select private.is_member(restaurant_id)));

-------------------------------------------------------------------------------
-- Internal helpers
-------------------------------------------------------------------------------

-- private.authorize: raises unless the verified claims may act on the
-- restaurant, and returns its phone region.
--   service_role  -> any existing restaurant (PT404 restaurant_not_found otherwise)
--   authenticated -> restaurants where sub is a member (PT403 otherwise, so a
--                    non-member learns nothing about which restaurants exist)
--   anything else -> PT403
-- PT4xx codes are PostgREST's convention for "answer with this HTTP status".
create function private.authorize(p_claims jsonb, p_restaurant_id uuid)
returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  v_role text := p_claims ->> 'role';
  v_sub text := p_claims ->> 'sub';
  v_region text;
begin
  if v_role = 'service_role' then
    select r.phone_region into v_region from public.restaurants r where r.id = p_restaurant_id;
    if not found then
      raise exception using errcode = 'PT404', message = 'restaurant_not_found',
        detail = 'No restaurant with this id.';
    end if;
    return v_region;
  end if;

  if v_role = 'authenticated'
    and v_sub ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
  then
    select r.phone_region into v_region
    from public.restaurants r
    join public.restaurant_memberships m on m.restaurant_id = r.id
    where r.id = p_restaurant_id and m.user_id = v_sub::uuid;
    if found then
      return v_region;
    end if;
  end if;

  raise exception using errcode = 'PT403', message = 'forbidden',
    detail = 'The caller may not act on this restaurant.';
end
$$;

-- private.check_phone_region: the edge functions normalize national-format
-- phones with the region they believe the restaurant has (cached per
-- isolate). If the restaurant's region differs, the number may mean another
-- subscriber, so refuse and tell the caller the right region (PT409 with the
-- region as hint); it re-normalizes and retries. NULL means the number was
-- international (or absent) and needs no region.
create function private.check_phone_region(p_assumed text, p_actual text)
returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if p_assumed is not null and p_assumed is distinct from p_actual then
    raise exception using errcode = 'PT409', message = 'phone_region_mismatch',
      detail = 'The phone was normalized with another region than the restaurant''s.',
      hint = p_actual;
  end if;
end
$$;

-- private.customer_json: the API shape of a customer with its profile.
create function private.customer_json(c public.customers, p public.customer_profiles)
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select jsonb_build_object(
    'customer', jsonb_build_object(
      'id', c.id,
      'restaurantId', c.restaurant_id,
      'name', c.full_name,
      'email', c.email_normalized,
      'phone', c.phone_normalized,
      'marketingOptIn', c.marketing_opt_in,
      'createdAt', c.created_at,
      'updatedAt', c.updated_at
    ),
    'profile', jsonb_build_object(
      'totalBookings', p.total_bookings,
      'totalCovers', p.total_covers,
      'totalCancellations', p.total_cancellations,
      'firstBookingAt', p.first_booking_at,
      'lastBookingAt', p.last_booking_at,
      'marketingOptInAt', p.marketing_opt_in_at
    )
  )
$$;

-- private.lock_contacts: serializes every transaction that resolves the same
-- normalized email or phone in a restaurant. Keys are taken in ascending
-- order, so two requests whose contacts cross-match (email of one, phone of
-- the other) queue instead of deadlocking. A hash collision only costs a
-- little extra waiting, never correctness.
create function private.lock_contacts(p_restaurant_id uuid, p_email text, p_phone text)
returns void
language plpgsql
set search_path = ''
as $$
declare
  v_key bigint;
begin
  for v_key in
    select k
    from unnest(array[
      case when p_email is not null then hashtextextended(p_restaurant_id::text || ' e ' || p_email, 0) end,
      case when p_phone is not null then hashtextextended(p_restaurant_id::text || ' p ' || p_phone, 0) end
    ]) as k
    where k is not null
    order by k
  loop
    perform pg_advisory_xact_lock(v_key);
  end loop;
end
$$;

-------------------------------------------------------------------------------
-- private.customers_upsert
-- Resolves (or creates) the restaurant's customer for the given normalized
-- contacts and optionally records a booking for it, in one transaction.
-- Returns the API response: customer, profile, created, matchedBy, conflict,
-- bookingRecorded.
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
  p_booking_id uuid default null,
  p_booking_covers integer default null,
  p_booking_starts_at timestamptz default null
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_region text;
  v_name text := nullif(btrim(p_full_name), '');
  v_opt_in boolean := coalesce(p_marketing_opt_in, false);
  v_by_email public.customers;
  v_by_phone public.customers;
  v_customer public.customers;
  v_updated public.customers;
  v_profile public.customer_profiles;
  v_created boolean := false;
  v_matched_by text;
  v_conflict jsonb;
  v_booking_recorded boolean;
  v_booking_at timestamptz;
begin
  v_region := private.authorize(p_claims, p_restaurant_id);
  perform private.check_phone_region(p_phone_region, v_region);

  if p_email_normalized is null and p_phone_normalized is null then
    raise exception using errcode = 'PT400', message = 'invalid_request',
      detail = 'At least one of email or phone is required.';
  end if;
  if p_booking_id is not null and p_booking_covers is null then
    raise exception using errcode = 'PT400', message = 'invalid_request',
      detail = 'A booking needs its covers.';
  end if;

  perform private.lock_contacts(p_restaurant_id, p_email_normalized, p_phone_normalized);

  if p_email_normalized is not null then
    select * into v_by_email from public.customers c
    where c.restaurant_id = p_restaurant_id and c.email_normalized = p_email_normalized;
  end if;
  if p_phone_normalized is not null then
    select * into v_by_phone from public.customers c
    where c.restaurant_id = p_restaurant_id and c.phone_normalized = p_phone_normalized;
  end if;

  if v_by_email.id is null and v_by_phone.id is null then
    insert into public.customers (
      restaurant_id, full_name, email, email_normalized, phone, phone_normalized, marketing_opt_in
    )
    values (
      p_restaurant_id, v_name,
      coalesce(nullif(btrim(p_email), ''), p_email_normalized), p_email_normalized,
      coalesce(nullif(btrim(p_phone), ''), p_phone_normalized), p_phone_normalized,
      v_opt_in
    )
    returning * into v_customer;
    -- Its profile was created by the create_customer_profile trigger.
    v_created := true;
  else
    if v_by_email.id is not null then
      v_customer := v_by_email;
      if v_by_phone.id = v_by_email.id then
        v_matched_by := 'email_and_phone';
      else
        v_matched_by := 'email';
        if v_by_phone.id is not null then
          -- Email says A, phone says B: keep both as they are and report it.
          v_conflict := jsonb_build_object('customerId', v_by_phone.id, 'field', 'phone');
        end if;
      end if;
    else
      v_customer := v_by_phone;
      v_matched_by := 'phone';
    end if;

    -- Contacts are added, never replaced; a contact is only filled when no
    -- customer holds it (no conflict), which the locks above keep true.
    update public.customers c
    set
      full_name = coalesce(c.full_name, v_name),
      email = case when c.email_normalized is null and v_by_email.id is null and p_email_normalized is not null
        then coalesce(nullif(btrim(p_email), ''), p_email_normalized) else c.email end,
      email_normalized = case when c.email_normalized is null and v_by_email.id is null
        then p_email_normalized else c.email_normalized end,
      phone = case when c.phone_normalized is null and v_by_phone.id is null and p_phone_normalized is not null
        then coalesce(nullif(btrim(p_phone), ''), p_phone_normalized) else c.phone end,
      phone_normalized = case when c.phone_normalized is null and v_by_phone.id is null
        then p_phone_normalized else c.phone_normalized end,
      marketing_opt_in = c.marketing_opt_in or v_opt_in,
      updated_at = now()
    where c.id = v_customer.id
      and (
        (c.full_name is null and v_name is not null)
        or (c.email_normalized is null and v_by_email.id is null and p_email_normalized is not null)
        or (c.phone_normalized is null and v_by_phone.id is null and p_phone_normalized is not null)
        or (not c.marketing_opt_in and v_opt_in)
      )
    returning * into v_updated;
    if found then
      v_customer := v_updated;
    end if;
  end if;

  -- Profile: opt-in time (set once) and the booking, if it is new.
  if p_booking_id is not null then
    v_booking_at := coalesce(p_booking_starts_at, now());
    insert into public.customer_booking_events (
      restaurant_id, booking_id, kind, customer_id, covers, occurred_at
    )
    values (p_restaurant_id, p_booking_id, 'booking', v_customer.id, p_booking_covers, v_booking_at)
    on conflict do nothing;
    v_booking_recorded := found;
  end if;

  update public.customer_profiles p
  set
    total_bookings = p.total_bookings + case when v_booking_recorded then 1 else 0 end,
    total_covers = p.total_covers + case when v_booking_recorded then p_booking_covers else 0 end,
    first_booking_at = case when v_booking_recorded then least(p.first_booking_at, v_booking_at) else p.first_booking_at end,
    last_booking_at = case when v_booking_recorded then greatest(p.last_booking_at, v_booking_at) else p.last_booking_at end,
    marketing_opt_in_at = case when v_customer.marketing_opt_in then coalesce(p.marketing_opt_in_at, now()) else p.marketing_opt_in_at end,
    updated_at = now()
  where p.customer_id = v_customer.id
    and (v_booking_recorded or (v_customer.marketing_opt_in and p.marketing_opt_in_at is null))
  returning * into v_profile;
  if v_profile.customer_id is null then
    select * into v_profile from public.customer_profiles p where p.customer_id = v_customer.id;
  end if;

  return private.customer_json(v_customer, v_profile) || jsonb_build_object(
    'created', v_created,
    'matchedBy', v_matched_by,
    'conflict', v_conflict,
    'bookingRecorded', v_booking_recorded
  );
end
$$;

-------------------------------------------------------------------------------
-- private.customer_cancel
-- Records the cancellation of a booking once per booking id. The customer is
-- named by id or by normalized contact and must exist (PT404
-- customer_not_found); when the booking itself was recorded, the cancellation
-- is counted on that booking's customer. A cancellation that arrives before
-- its booking still counts, and the booking counts when it comes.
-- Returns customer, profile and cancellationRecorded.
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
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_region text;
  v_customer_id uuid;
  v_booked_customer_id uuid;
  v_customer public.customers;
  v_profile public.customer_profiles;
  v_recorded boolean;
begin
  v_region := private.authorize(p_claims, p_restaurant_id);
  perform private.check_phone_region(p_phone_region, v_region);

  if p_booking_id is null then
    raise exception using errcode = 'PT400', message = 'invalid_request',
      detail = 'bookingId is required.';
  end if;

  if p_customer_id is not null then
    select c.id into v_customer_id from public.customers c
    where c.id = p_customer_id and c.restaurant_id = p_restaurant_id;
  elsif p_email_normalized is not null or p_phone_normalized is not null then
    -- Email first: it is the stronger identity when both are given.
    select c.id into v_customer_id from public.customers c
    where c.restaurant_id = p_restaurant_id
      and (c.email_normalized = p_email_normalized or c.phone_normalized = p_phone_normalized)
    order by (c.email_normalized = p_email_normalized) desc nulls last
    limit 1;
  else
    raise exception using errcode = 'PT400', message = 'invalid_request',
      detail = 'Name the customer by customerId, email or phone.';
  end if;

  if v_customer_id is null then
    raise exception using errcode = 'PT404', message = 'customer_not_found',
      detail = 'No customer of this restaurant matches.';
  end if;

  select e.customer_id into v_booked_customer_id
  from public.customer_booking_events e
  where e.restaurant_id = p_restaurant_id and e.booking_id = p_booking_id and e.kind = 'booking';
  v_customer_id := coalesce(v_booked_customer_id, v_customer_id);

  insert into public.customer_booking_events (
    restaurant_id, booking_id, kind, customer_id, covers, occurred_at
  )
  values (p_restaurant_id, p_booking_id, 'cancellation', v_customer_id, null, coalesce(p_cancelled_at, now()))
  on conflict do nothing;
  v_recorded := found;

  if v_recorded then
    update public.customer_profiles p
    set total_cancellations = p.total_cancellations + 1, updated_at = now()
    where p.customer_id = v_customer_id
    returning * into v_profile;
  else
    -- Already recorded (perhaps on the booking's customer): answer for the
    -- customer the cancellation is counted on.
    select e.customer_id into v_customer_id
    from public.customer_booking_events e
    where e.restaurant_id = p_restaurant_id and e.booking_id = p_booking_id and e.kind = 'cancellation';
    select * into v_profile from public.customer_profiles p where p.customer_id = v_customer_id;
  end if;

  select * into v_customer from public.customers c where c.id = v_customer_id;

  return private.customer_json(v_customer, v_profile)
    || jsonb_build_object('cancellationRecorded', v_recorded);
end
$$;

-------------------------------------------------------------------------------
-- private.set_marketing_consent
-- The one way marketing opt-in turns off: an explicit consent change by staff
-- or a service. Opting in sets marketing_opt_in_at if it was never set;
-- opting out stamps marketing_opt_out_at. Returns customer and profile.
-------------------------------------------------------------------------------
create function private.set_marketing_consent(
  p_claims jsonb,
  p_restaurant_id uuid,
  p_customer_id uuid,
  p_opt_in boolean
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_customer public.customers;
  v_profile public.customer_profiles;
begin
  perform private.authorize(p_claims, p_restaurant_id);
  if p_opt_in is null then
    raise exception using errcode = 'PT400', message = 'invalid_request',
      detail = 'optIn must be true or false.';
  end if;

  update public.customers c
  set marketing_opt_in = p_opt_in,
      updated_at = case when c.marketing_opt_in is distinct from p_opt_in then now() else c.updated_at end
  where c.id = p_customer_id and c.restaurant_id = p_restaurant_id
  returning * into v_customer;
  if not found then
    raise exception using errcode = 'PT404', message = 'customer_not_found',
      detail = 'No customer of this restaurant matches.';
  end if;

  update public.customer_profiles p
  set marketing_opt_in_at = case when p_opt_in then coalesce(p.marketing_opt_in_at, now()) else p.marketing_opt_in_at end,
      marketing_opt_out_at = case when p_opt_in then p.marketing_opt_out_at else now() end,
      updated_at = now()
  where p.customer_id = v_customer.id
  returning * into v_profile;

  return private.customer_json(v_customer, v_profile);
end
$$;

revoke all on function private.create_customer_profile() from public;
revoke all on function private.authorize(jsonb, uuid) from public;
revoke all on function private.check_phone_region(text, text) from public;
revoke all on function private.customer_json(public.customers, public.customer_profiles) from public;
revoke all on function private.lock_contacts(uuid, text, text) from public;
revoke all on function private.customers_upsert(jsonb, uuid, text, text, text, text, text, text, boolean, uuid, integer, timestamptz) from public;
revoke all on function private.customer_cancel(jsonb, uuid, uuid, uuid, text, text, text, timestamptz) from public;
revoke all on function private.set_marketing_consent(jsonb, uuid, uuid, boolean) from public;

-------------------------------------------------------------------------------
-- Public RPC wrappers (PostgREST): same rules, claims from auth.jwt().
-- Contacts must already be in canonical form; the CHECK constraints refuse
-- anything else.
-------------------------------------------------------------------------------

-- public.customers_upsert: see private.customers_upsert.
create function public.customers_upsert(
  restaurant_id uuid,
  full_name text default null,
  email text default null,
  phone text default null,
  marketing_opt_in boolean default false,
  booking_id uuid default null,
  booking_covers integer default null,
  booking_starts_at timestamptz default null
)
returns jsonb
language sql
security definer
set search_path = ''
as $$
  select private.customers_upsert(
    coalesce((select auth.jwt()), '{}'::jsonb), restaurant_id, full_name,
    email, email, phone, phone, null,
    marketing_opt_in, booking_id, booking_covers, booking_starts_at
  )
$$;

-- public.customer_cancel: see private.customer_cancel.
create function public.customer_cancel(
  restaurant_id uuid,
  booking_id uuid,
  customer_id uuid default null,
  email text default null,
  phone text default null,
  cancelled_at timestamptz default null
)
returns jsonb
language sql
security definer
set search_path = ''
as $$
  select private.customer_cancel(
    coalesce((select auth.jwt()), '{}'::jsonb), restaurant_id, booking_id,
    customer_id, email, phone, null, cancelled_at
  )
$$;

-- public.set_marketing_consent: see private.set_marketing_consent.
create function public.set_marketing_consent(restaurant_id uuid, customer_id uuid, opt_in boolean)
returns jsonb
language sql
security definer
set search_path = ''
as $$
  select private.set_marketing_consent(
    coalesce((select auth.jwt()), '{}'::jsonb), restaurant_id, customer_id, opt_in
  )
$$;

revoke all on function public.customers_upsert(uuid, text, text, text, boolean, uuid, integer, timestamptz) from public, anon;
revoke all on function public.customer_cancel(uuid, uuid, uuid, text, text, timestamptz) from public, anon;
revoke all on function public.set_marketing_consent(uuid, uuid, boolean) from public, anon;
grant execute on function public.customers_upsert(uuid, text, text, text, boolean, uuid, integer, timestamptz)
  to authenticated, service_role;
grant execute on function public.customer_cancel(uuid, uuid, uuid, text, text, timestamptz)
  to authenticated, service_role;
grant execute on function public.set_marketing_consent(uuid, uuid, boolean)
  to authenticated, service_role;
