-- Customers module, database core.
--
-- The database owns every invariant: contacts are stored only in canonical
-- form (CHECK constraints), identity resolution happens under advisory locks
-- in one transaction, and guest statistics are derived from an append-only
-- ledger keyed by (restaurant, booking, kind), so an event counts at most once
-- whatever the order or number of its deliveries.
--
-- Callers: the edge functions connect as the table owner and call the
-- private.* functions with the claims they verified (named arguments, bind
-- parameters); PostgREST callers use the public.* wrappers (rpc migration),
-- which read the same claims from auth.jwt().

create schema if not exists private;
revoke all on schema private from public;
-- The schema only; each function below is granted (or not) on its own.
grant usage on schema private to authenticated;

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

-- Text rules, enforced whatever the path (functions, rpc, psql, an import):
--   * no C0/C1 control characters in any stored name or contact;
--   * the email identity is Unicode-lower-cased (ICU, so the database's own
--     locale, often C, cannot let 'É' through), NFC, and free of invisible
--     characters (zero-width, soft hyphen, bidi controls), so that one
--     address cannot be stored as two guests.
-- The rules live in three validators rather than in the CHECK expressions
-- themselves: Postgres reads a CHECK's expression back from its stored text
-- on every insert or update, which for these regular expressions cost more
-- than the rest of creating a guest; a function's body is compiled once per
-- connection. They are pure, and executable by everyone: a CHECK runs with
-- the rights of whoever writes the row. Each sets standard_conforming_strings:
-- a body is parsed with the calling session's setting, and with it off the
-- backslashes of these patterns would mean something else (for as long as
-- that connection lives).
create function private.is_clean_text(p_value text, p_max_length integer)
returns boolean
language plpgsql
immutable
set search_path = ''
set standard_conforming_strings = on
as $$
begin
  return p_value is null
    or (p_value = btrim(p_value) and p_value <> '' and length(p_value) <= p_max_length
        and p_value !~ '[\u0001-\u001f\u007f-\u009f]');
end
$$;

grant execute on function private.is_clean_text(text, integer) to public;

-- Lower-cased (Unicode), NFC, domain in ASCII (IDNA), no white space, no
-- control or invisible characters.
create function private.is_normalized_email(p_value text)
returns boolean
language plpgsql
immutable
set search_path = ''
set standard_conforming_strings = on
as $$
begin
  return p_value is null
    or (
      p_value = lower(p_value collate "und-x-icu")
      and p_value is nfc normalized
      and length(p_value) <= 320
      and p_value !~ '[\u0001-\u001f\u007f-\u009f\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]'
      and p_value ~ '^[^@[:space:]]{1,64}@[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$'
    );
end
$$;

grant execute on function private.is_normalized_email(text) to public;

-- E.164: '+', country code, subscriber number; at most 15 digits.
create function private.is_e164(p_value text)
returns boolean
language plpgsql
immutable
set search_path = ''
set standard_conforming_strings = on
as $$
begin
  return p_value is null or p_value ~ '^\+[1-9][0-9]{6,14}$';
end
$$;

grant execute on function private.is_e164(text) to public;

create table public.customers (
  id uuid primary key default gen_random_uuid(),
  restaurant_id uuid not null references public.restaurants (id) on delete cascade,
  full_name text check (private.is_clean_text(full_name, 200)),
  -- Display forms: the email as first given (trimmed), the phone in
  -- international format. Lookups use the *_normalized columns only.
  email text check (private.is_clean_text(email, 320)),
  phone text check (private.is_clean_text(phone, 40)),
  email_normalized text check (private.is_normalized_email(email_normalized)),
  phone_normalized text check (private.is_e164(phone_normalized)),
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
  -- Last explicit withdrawal (private.set_marketing_consent). An opt-in given
  -- before it (an old booking's row, a replayed delivery) never applies again.
  marketing_opt_out_at timestamptz,
  updated_at timestamptz not null default now()
);

create index customer_profiles_restaurant_id_idx on public.customer_profiles (restaurant_id);

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

-------------------------------------------------------------------------------
-- Row-level security and table grants
-------------------------------------------------------------------------------

alter table public.restaurants enable row level security;
alter table public.restaurant_memberships enable row level security;
alter table public.customers enable row level security;
alter table public.customer_profiles enable row level security;
alter table public.customer_booking_events enable row level security;

-- Supabase grants everything in public to the API roles by default; state the
-- intended grants explicitly so plain PostgreSQL and hosted projects agree.
revoke all on public.restaurants, public.restaurant_memberships, public.customers,
  public.customer_profiles, public.customer_booking_events
  from anon, authenticated;
grant select on public.restaurants, public.restaurant_memberships, public.customers,
  public.customer_profiles, public.customer_booking_events
  to authenticated;
grant all on public.restaurants, public.restaurant_memberships, public.customers,
  public.customer_profiles, public.customer_booking_events
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

-------------------------------------------------------------------------------
-- Internal helpers
-------------------------------------------------------------------------------

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

revoke all on function private.create_customer_profile() from public;

create trigger create_customer_profile
  after insert on public.customers
  for each row
  execute function private.create_customer_profile();

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

revoke all on function private.authorize(jsonb, uuid) from public;

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

revoke all on function private.check_phone_region(text, text) from public;

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

revoke all on function private.customer_json(public.customers, public.customer_profiles) from public;

-- private.customer_json(id): the same, read by customer id.
create function private.customer_json(p_customer_id uuid)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select private.customer_json(c, p)
  from public.customers c
  join public.customer_profiles p on p.customer_id = c.id
  where c.id = p_customer_id
$$;

revoke all on function private.customer_json(uuid) from public;

-- private.lock_contacts: serializes every transaction that resolves the same
-- normalized email or phone in a restaurant. Keys are taken in ascending
-- order, so two requests whose contacts cross-match (email of one, phone of
-- the other) queue instead of deadlocking. A hash collision only costs a
-- little extra waiting, never correctness. Contact locks are always taken
-- before a booking's lock (private.lock_booking), never after.
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

revoke all on function private.lock_contacts(uuid, text, text) from public;

-- private.lock_booking: serializes everything that records events of one
-- booking, so a booking and its cancellation racing from two requests agree
-- on the booking's customer. plpgsql, not sql: a sql function with a SET
-- clause is parsed and planned again on every call (before PostgreSQL 18).
create function private.lock_booking(p_restaurant_id uuid, p_booking_id uuid)
returns void
language plpgsql
set search_path = ''
as $$
begin
  perform pg_advisory_xact_lock(hashtextextended(p_restaurant_id::text || ' b ' || p_booking_id::text, 0));
end
$$;

revoke all on function private.lock_booking(uuid, uuid) from public;

-------------------------------------------------------------------------------
-- private.record_booking
-- Records a booking once per booking id on the customer and moves the
-- profile's counters by its delta. A cancellation that arrived first on
-- another customer (named by contact, before the booking was known) belongs
-- to the booking's customer: it moves there, counters on both sides.
-- Returns true when the booking was new. The caller holds the booking lock.
-------------------------------------------------------------------------------
create function private.record_booking(
  p_restaurant_id uuid,
  p_booking_id uuid,
  p_customer_id uuid,
  p_covers integer,
  p_starts_at timestamptz
)
returns boolean
language plpgsql
set search_path = ''
as $$
declare
  v_at timestamptz := coalesce(p_starts_at, now());
  v_cancelled_on uuid;
begin
  insert into public.customer_booking_events (
    restaurant_id, booking_id, kind, customer_id, covers, occurred_at
  )
  values (p_restaurant_id, p_booking_id, 'booking', p_customer_id, p_covers, v_at)
  on conflict do nothing;
  if not found then
    return false;
  end if;

  update public.customer_profiles p
  set total_bookings = p.total_bookings + 1,
      total_covers = p.total_covers + p_covers,
      first_booking_at = least(p.first_booking_at, v_at),
      last_booking_at = greatest(p.last_booking_at, v_at),
      updated_at = now()
  where p.customer_id = p_customer_id;

  select e.customer_id into v_cancelled_on
  from public.customer_booking_events e
  where e.restaurant_id = p_restaurant_id and e.booking_id = p_booking_id
    and e.kind = 'cancellation' and e.customer_id <> p_customer_id;
  if found then
    update public.customer_booking_events e
    set customer_id = p_customer_id
    where e.restaurant_id = p_restaurant_id and e.booking_id = p_booking_id and e.kind = 'cancellation';
    update public.customer_profiles p
    set total_cancellations = p.total_cancellations + case when p.customer_id = p_customer_id then 1 else -1 end,
        updated_at = now()
    where p.customer_id in (p_customer_id, v_cancelled_on);
  end if;
  return true;
end
$$;

revoke all on function private.record_booking(uuid, uuid, uuid, integer, timestamptz) from public;

-------------------------------------------------------------------------------
-- private.record_cancellation
-- Records a booking's cancellation once per booking id: on the booking's
-- customer when the booking is recorded, else on the customer named (the
-- booking, when it comes, takes it over). Returns the customer it is counted
-- on and whether it was new. The caller holds the booking lock.
-------------------------------------------------------------------------------
create function private.record_cancellation(
  p_restaurant_id uuid,
  p_booking_id uuid,
  p_customer_id uuid,
  p_cancelled_at timestamptz,
  out customer_id uuid,
  out recorded boolean
)
language plpgsql
set search_path = ''
as $$
begin
  select e.customer_id into customer_id
  from public.customer_booking_events e
  where e.restaurant_id = p_restaurant_id and e.booking_id = p_booking_id and e.kind = 'cancellation';
  if found then
    recorded := false;
    return;
  end if;

  select e.customer_id into customer_id
  from public.customer_booking_events e
  where e.restaurant_id = p_restaurant_id and e.booking_id = p_booking_id and e.kind = 'booking';
  customer_id := coalesce(customer_id, p_customer_id);

  insert into public.customer_booking_events (
    restaurant_id, booking_id, kind, customer_id, covers, occurred_at
  )
  values (p_restaurant_id, p_booking_id, 'cancellation', customer_id, null, coalesce(p_cancelled_at, now()));
  update public.customer_profiles p
  set total_cancellations = p.total_cancellations + 1, updated_at = now()
  where p.customer_id = record_cancellation.customer_id;
  recorded := true;
end
$$;

revoke all on function private.record_cancellation(uuid, uuid, uuid, timestamptz) from public;

-------------------------------------------------------------------------------
-- private.resolve_customer
-- Resolves (or creates) the restaurant's customer for the given normalized
-- contacts under contact locks, and fills what is missing: the name, and a
-- contact that no customer holds when the customer's slot for it is empty.
-- Email of A with phone of B returns A and reports B (conflict); a free
-- contact meeting a filled slot is reported in contacts_not_saved. Filling
-- is one UPDATE of coalesces, so a concurrent fill cannot be overwritten.
-------------------------------------------------------------------------------
create function private.resolve_customer(
  p_restaurant_id uuid,
  p_full_name text,
  p_email text,
  p_email_normalized text,
  p_phone text,
  p_phone_normalized text,
  out customer_id uuid,
  out created boolean,
  out matched_by text,
  out conflict jsonb,
  out contacts_not_saved text[]
)
language plpgsql
set search_path = ''
as $$
declare
  v_name text := nullif(btrim(p_full_name), '');
  v_email text := coalesce(nullif(btrim(p_email), ''), p_email_normalized);
  v_phone text := coalesce(nullif(btrim(p_phone), ''), p_phone_normalized);
  v_by_email uuid;
  v_by_phone uuid;
  -- A contact may be given to the customer only when no customer holds it.
  v_email_free boolean;
  v_phone_free boolean;
  v_customer public.customers;
begin
  if p_email_normalized is null and p_phone_normalized is null then
    raise exception using errcode = 'PT400', message = 'invalid_request',
      detail = 'At least one of email or phone is required.';
  end if;
  perform private.lock_contacts(p_restaurant_id, p_email_normalized, p_phone_normalized);

  select c.id into v_by_email from public.customers c
  where c.restaurant_id = p_restaurant_id and c.email_normalized = p_email_normalized;
  select c.id into v_by_phone from public.customers c
  where c.restaurant_id = p_restaurant_id and c.phone_normalized = p_phone_normalized;
  v_email_free := p_email_normalized is not null and v_by_email is null;
  v_phone_free := p_phone_normalized is not null and v_by_phone is null;
  created := v_by_email is null and v_by_phone is null;
  contacts_not_saved := '{}';

  if created then
    insert into public.customers (
      restaurant_id, full_name, email, email_normalized, phone, phone_normalized
    )
    values (
      p_restaurant_id, v_name,
      case when v_email_free then v_email end, p_email_normalized,
      case when v_phone_free then v_phone end, p_phone_normalized
    )
    returning id into customer_id;
    -- Its profile was created by the create_customer_profile trigger.
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
  end if;

  select * into v_customer from public.customers c where c.id = customer_id;
  if v_email_free and v_customer.email_normalized is not null then
    contacts_not_saved := contacts_not_saved || 'email'::text;
  end if;
  if v_phone_free and v_customer.phone_normalized is not null then
    contacts_not_saved := contacts_not_saved || 'phone'::text;
  end if;

  -- Contacts are added, never replaced; the name is backfilled.
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
end
$$;

revoke all on function private.resolve_customer(uuid, text, text, text, text, text) from public;

-------------------------------------------------------------------------------
-- private.grant_marketing_opt_in
-- Marketing opt-in is sticky, and a withdrawal (set_marketing_consent) wins
-- over every opt-in given before it: the opt-in applies only when it was
-- given (p_consent_at, default now) after the last withdrawal. Its time is
-- set once.
-------------------------------------------------------------------------------
create function private.grant_marketing_opt_in(p_customer_id uuid, p_consent_at timestamptz)
returns void
language plpgsql
set search_path = ''
as $$
begin
  -- The customer's row lock orders this against a concurrent withdrawal
  -- (set_marketing_consent updates the same row first), so the withdrawal
  -- time read below is the latest.
  perform from public.customers c where c.id = p_customer_id and not c.marketing_opt_in
  for no key update;
  if not found then
    return;
  end if;
  if coalesce(p_consent_at, now()) <= coalesce(
    (select p.marketing_opt_out_at from public.customer_profiles p where p.customer_id = p_customer_id),
    '-infinity'
  ) then
    return;
  end if;
  update public.customers c set marketing_opt_in = true, updated_at = now() where c.id = p_customer_id;
  update public.customer_profiles p
  set marketing_opt_in_at = coalesce(p.marketing_opt_in_at, now()), updated_at = now()
  where p.customer_id = p_customer_id;
end
$$;

revoke all on function private.grant_marketing_opt_in(uuid, timestamptz) from public;

-------------------------------------------------------------------------------
-- private.customers_upsert
-- Resolves the customer (resolve_customer), records the booking and, for a
-- booking that is already cancelled, its cancellation, and applies an
-- opt-in: one transaction. An opt-in that comes with a booking applies only
-- when that booking is newly recorded (a replayed delivery grants nothing).
-- Returns customer, profile, created, matchedBy, conflict, contactsNotSaved,
-- bookingRecorded and cancellationRecorded.
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
  p_booking_id uuid default null,
  p_booking_covers integer default null,
  p_booking_starts_at timestamptz default null,
  p_booking_cancelled_at timestamptz default null
)
returns jsonb
language plpgsql
set search_path = ''
set lock_timeout = '5s'
as $$
declare
  v_region text;
  v_who record;
  v_booking_recorded boolean;
  v_cancelled_on uuid;
  v_cancellation_recorded boolean;
begin
  v_region := private.authorize(p_claims, p_restaurant_id);
  perform private.check_phone_region(p_phone_region, v_region);
  if p_booking_id is not null and p_booking_covers is null then
    raise exception using errcode = 'PT400', message = 'invalid_request',
      detail = 'A booking needs its covers.';
  end if;
  if p_booking_cancelled_at is not null and p_booking_id is null then
    raise exception using errcode = 'PT400', message = 'invalid_request',
      detail = 'A cancellation needs its booking.';
  end if;

  select * into v_who from private.resolve_customer(
    p_restaurant_id, p_full_name, p_email, p_email_normalized, p_phone, p_phone_normalized
  );

  if p_booking_id is not null then
    perform private.lock_booking(p_restaurant_id, p_booking_id);
    v_booking_recorded := private.record_booking(
      p_restaurant_id, p_booking_id, v_who.customer_id, p_booking_covers, p_booking_starts_at
    );
    if p_booking_cancelled_at is not null then
      select r.customer_id, r.recorded into v_cancelled_on, v_cancellation_recorded
      from private.record_cancellation(
        p_restaurant_id, p_booking_id, v_who.customer_id, p_booking_cancelled_at
      ) r;
    end if;
  end if;

  if p_marketing_opt_in and (p_booking_id is null or v_booking_recorded) then
    perform private.grant_marketing_opt_in(v_who.customer_id, p_consent_at);
  end if;

  return private.customer_json(v_who.customer_id) || jsonb_build_object(
    'created', v_who.created,
    'matchedBy', v_who.matched_by,
    'conflict', v_who.conflict,
    'contactsNotSaved', to_jsonb(v_who.contacts_not_saved),
    'bookingRecorded', v_booking_recorded,
    'cancellationRecorded', v_cancellation_recorded
  );
end
$$;

revoke all on function private.customers_upsert(
  jsonb, uuid, text, text, text, text, text, text, boolean, timestamptz, uuid, integer, timestamptz, timestamptz
) from public;

-------------------------------------------------------------------------------
-- private.customer_cancel
-- Records the cancellation of a booking once per booking id. The customer is
-- named by id or by normalized contact and must exist (PT404
-- customer_not_found); when the booking itself was recorded, the cancellation
-- is counted on that booking's customer. A cancellation that arrives before
-- its booking still counts, and moves with the booking when it comes.
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
set lock_timeout = '5s'
as $$
declare
  v_region text;
  v_customer_id uuid;
  v_cancelled_on uuid;
  v_recorded boolean;
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

  -- By id when given; else email first, the stronger identity.
  select c.id into v_customer_id
  from public.customers c
  where c.restaurant_id = p_restaurant_id
    and (
      c.id = p_customer_id
      or (p_customer_id is null
          and (c.email_normalized = p_email_normalized or c.phone_normalized = p_phone_normalized))
    )
  order by (c.email_normalized = p_email_normalized) desc nulls last
  limit 1;
  if v_customer_id is null then
    raise exception using errcode = 'PT404', message = 'customer_not_found',
      detail = 'No customer of this restaurant matches.';
  end if;

  perform private.lock_booking(p_restaurant_id, p_booking_id);
  select r.customer_id, r.recorded into v_cancelled_on, v_recorded
  from private.record_cancellation(p_restaurant_id, p_booking_id, v_customer_id, p_cancelled_at) r;

  return private.customer_json(v_cancelled_on) || jsonb_build_object('cancellationRecorded', v_recorded);
end
$$;

revoke all on function private.customer_cancel(jsonb, uuid, uuid, uuid, text, text, text, timestamptz) from public;

-------------------------------------------------------------------------------
-- private.set_marketing_consent
-- The one way marketing opt-in turns off: an explicit consent change by staff
-- or a service. Opting in sets marketing_opt_in_at if it was never set;
-- opting out stamps marketing_opt_out_at, which every older opt-in then
-- loses to. Returns customer and profile.
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
set lock_timeout = '5s'
as $$
declare
  v_customer_id uuid;
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
  returning c.id into v_customer_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'customer_not_found',
      detail = 'No customer of this restaurant matches.';
  end if;

  update public.customer_profiles p
  set marketing_opt_in_at = case when p_opt_in then coalesce(p.marketing_opt_in_at, now()) else p.marketing_opt_in_at end,
      marketing_opt_out_at = case when p_opt_in then p.marketing_opt_out_at else now() end,
      updated_at = now()
  where p.customer_id = v_customer_id;

  return private.customer_json(v_customer_id);
end
$$;

revoke all on function private.set_marketing_consent(jsonb, uuid, uuid, boolean) from public;
