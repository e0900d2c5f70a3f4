-- Duplicate guests: several contacts per guest, duplicate candidates, merge
-- and unmerge.
--
--   * public.customer_contacts: every contact of every live guest, one row
--     each (kind, normalized value, display form, when and how it came). A
--     normalized contact belongs to at most one live guest of a restaurant:
--     a unique constraint. Tombstones (merged or erased) hold no row here.
--     customers.email / customers.phone stay the guest's primary contacts.
--   * public.customer_duplicates: candidate pairs (upsert conflicts, and
--     equal folded names with a shared private email domain or phone
--     prefix), with first/last time seen, a count, and dismissal.
--   * public.customer_merges (+ customer_merge_items): the audit of each
--     merge (who, when, which rows moved: ids only, no guest data), which
--     an unmerge reads to put every moved row back.
--
-- Lock order (every writer): the restaurant's identity lock (merge, unmerge,
-- erasure only) -> contact advisory locks (sorted) -> booking advisory lock
-- -> customer rows (by id) -> booking rows -> profile rows. A merge never
-- takes a booking's advisory lock, and takes profile rows last, so a booking
-- operation holding a booking row never waits for a merge that waits for it.

-------------------------------------------------------------------------------
-- Tombstones of merged guests
-------------------------------------------------------------------------------
alter table public.customers
  add column merged_into uuid,
  add constraint customers_merged_into_fkey foreign key (restaurant_id, merged_into)
    references public.customers (restaurant_id, id),
  add constraint customers_not_merged_into_self check (merged_into <> id);

-- The host's rows of a guest (a merge moves their links; erasure clears them).
create index bookings_customer_id_idx on public.bookings (customer_id) where customer_id is not null;

create index customers_merged_into_idx on public.customers (merged_into) where merged_into is not null;

-- A merged tombstone keeps its own primary contacts (an unmerge gives them
-- back), and the target may take one of them into an empty primary slot:
-- primary contacts are unique among the guests that are not merged.
-- (Identity itself is customer_contacts' unique constraint.)
alter table public.customers
  drop constraint customers_restaurant_email_key,
  drop constraint customers_restaurant_phone_key;
create unique index customers_restaurant_email_key on public.customers (restaurant_id, email_normalized)
  where merged_into is null;
create unique index customers_restaurant_phone_key on public.customers (restaurant_id, phone_normalized)
  where merged_into is null;

-- Merges and unmerges leave evidence in the consent history too.
alter table public.consent_events
  drop constraint consent_events_source_check,
  add constraint consent_events_source_check
    check (source in ('booking', 'staff', 'import', 'unsubscribe_link', 'api', 'erasure', 'merge'));

-------------------------------------------------------------------------------
-- Contacts
-------------------------------------------------------------------------------
create table public.customer_contacts (
  id uuid primary key default gen_random_uuid(),
  restaurant_id uuid not null references public.restaurants (id) on delete cascade,
  customer_id uuid not null,
  kind text not null check (kind in ('email', 'phone')),
  -- The canonical form and clean display text: the customers table's own
  -- validators (compiled once per connection, not re-read per insert).
  value_normalized text not null check (
    case kind
      when 'email' then private.is_normalized_email(value_normalized)
      else private.is_e164(value_normalized)
    end
  ),
  display text not null check (display <> '' and private.is_clean_text(display, 320)),
  added_at timestamptz not null default now(),
  -- How: 'primary' (the guest's own email/phone), 'upsert' (a secondary
  -- contact an upsert brought), 'backfill' (this migration).
  added_by text not null check (added_by in ('primary', 'upsert', 'backfill')),
  -- One live guest per normalized contact and restaurant.
  constraint customer_contacts_value_key unique (restaurant_id, kind, value_normalized),
  constraint customer_contacts_customer_fkey foreign key (restaurant_id, customer_id)
    references public.customers (restaurant_id, id) on delete cascade
);

create index customer_contacts_customer_id_idx on public.customer_contacts (customer_id, kind, added_at);

alter table public.customer_contacts enable row level security;
revoke all on public.customer_contacts from anon, authenticated;
grant select on public.customer_contacts to authenticated;
grant all on public.customer_contacts to service_role;

create policy customer_contacts_staff_read on public.customer_contacts
  for select to authenticated using ((select private.is_member(restaurant_id)));

insert into public.customer_contacts (restaurant_id, customer_id, kind, value_normalized, display, added_at, added_by)
select c.restaurant_id, c.id, k.kind, k.value, k.display, c.created_at, 'backfill'
from public.customers c
cross join lateral (values ('email', c.email_normalized, c.email), ('phone', c.phone_normalized, c.phone)) k(kind, value, display)
where c.erased_at is null and k.value is not null;

-------------------------------------------------------------------------------
-- private.sync_primary_contacts: a live guest's primary email and phone are
-- always among its contacts, however the row was written (the upsert, an
-- import, a service script). A contact another live guest holds is refused
-- by the unique constraint.
-------------------------------------------------------------------------------
create function private.sync_primary_contacts()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  insert into public.customer_contacts (restaurant_id, customer_id, kind, value_normalized, display, added_by)
  select new.restaurant_id, new.id, k.kind, k.value, k.display, 'primary'
  from (values ('email', new.email_normalized, new.email), ('phone', new.phone_normalized, new.phone)) k(kind, value, display)
  where k.value is not null
    and not exists (
      select from public.customer_contacts x
      where x.restaurant_id = new.restaurant_id and x.kind = k.kind and x.value_normalized = k.value
        and x.customer_id = new.id
    );
  return null;
end
$$;

revoke all on function private.sync_primary_contacts() from public;

create trigger sync_primary_contacts
  after insert or update of email_normalized, phone_normalized on public.customers
  for each row
  when (new.merged_into is null and new.erased_at is null
        and (new.email_normalized is not null or new.phone_normalized is not null))
  execute function private.sync_primary_contacts();

-------------------------------------------------------------------------------
-- Duplicate candidates
-------------------------------------------------------------------------------
create table public.customer_duplicates (
  restaurant_id uuid not null references public.restaurants (id) on delete cascade,
  -- The pair, smaller id first.
  customer_a uuid not null,
  customer_b uuid not null,
  reasons text[] not null default '{}'
    check (reasons <@ array['conflict', 'name_and_email_domain', 'name_and_phone_prefix']),
  first_seen_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  times_seen integer not null default 1 check (times_seen >= 0),
  dismissed_at timestamptz,
  dismissed_by text check (dismissed_by = 'service' or dismissed_by ~ '^[0-9a-f-]{36}$'),
  primary key (restaurant_id, customer_a, customer_b),
  constraint customer_duplicates_ordered check (customer_a < customer_b),
  constraint customer_duplicates_a_fkey foreign key (restaurant_id, customer_a)
    references public.customers (restaurant_id, id) on delete cascade,
  constraint customer_duplicates_b_fkey foreign key (restaurant_id, customer_b)
    references public.customers (restaurant_id, id) on delete cascade
);

create index customer_duplicates_listing_idx
  on public.customer_duplicates (restaurant_id, last_seen_at desc, customer_a desc, customer_b desc)
  where dismissed_at is null;
create index customer_duplicates_b_idx on public.customer_duplicates (customer_b);

alter table public.customer_duplicates enable row level security;
revoke all on public.customer_duplicates from anon, authenticated;
grant select on public.customer_duplicates to authenticated;
grant all on public.customer_duplicates to service_role;

create policy customer_duplicates_staff_read on public.customer_duplicates
  for select to authenticated using ((select private.is_member(restaurant_id)));

-------------------------------------------------------------------------------
-- Merge audit
-------------------------------------------------------------------------------
create table public.customer_merges (
  id uuid primary key default gen_random_uuid(),
  -- Orders merges of a restaurant ("a later merge").
  seq bigint generated always as identity,
  restaurant_id uuid not null references public.restaurants (id) on delete cascade,
  target_id uuid not null,
  source_ids uuid[] not null check (cardinality(source_ids) between 1 and 3),
  merged_at timestamptz not null default now(),
  actor_role text not null check (actor_role in ('service_role', 'authenticated')),
  actor_sub uuid,
  -- What the merge changed on the target, so an unmerge can undo it.
  target_name_filled boolean not null default false,
  target_opt_in_at_before timestamptz,
  unmerged_at timestamptz,
  unmerged_by_role text check (unmerged_by_role in ('service_role', 'authenticated')),
  unmerged_by_sub uuid,
  constraint customer_merges_target_fkey foreign key (restaurant_id, target_id)
    references public.customers (restaurant_id, id) on delete cascade
);

create index customer_merges_target_idx on public.customer_merges (target_id, seq);
create index customer_merges_sources_idx on public.customer_merges using gin (source_ids);

-- The rows a merge moved, by id, with the guest each came from.
create table public.customer_merge_items (
  merge_id uuid not null references public.customer_merges (id) on delete cascade,
  -- 'booking': customer_bookings.booking_id; 'contact': customer_contacts.id;
  -- 'host_booking': public.bookings.id (its customer_id link).
  kind text not null check (kind in ('booking', 'contact', 'host_booking')),
  item_id uuid not null,
  source_id uuid not null,
  primary key (merge_id, kind, item_id)
);

alter table public.customer_merges enable row level security;
alter table public.customer_merge_items enable row level security;
revoke all on public.customer_merges, public.customer_merge_items from anon, authenticated;
grant select on public.customer_merges to authenticated;
grant all on public.customer_merges, public.customer_merge_items to service_role;

create policy customer_merges_staff_read on public.customer_merges
  for select to authenticated using ((select private.is_member(restaurant_id)));

-------------------------------------------------------------------------------
-- Helpers
-------------------------------------------------------------------------------

-- private.fold_name: a name compared case- and accent-insensitively: NFD,
-- combining marks removed, Unicode lower case, white space collapsed.
-- plpgsql: its expression is prepared once per connection (a sql function
-- with SET is planned again on every call before PostgreSQL 18), and it runs on every insert.
create function private.fold_name(p_name text)
returns text
language plpgsql
immutable
parallel safe
set search_path = ''
-- Its patterns' backslashes mean the same in every session (see is_clean_text).
set standard_conforming_strings = on
as $$
begin
  return nullif(btrim(regexp_replace(
    lower(regexp_replace(normalize(p_name, nfd), '[\u0300-\u036f]', '', 'g') collate "und-x-icu"),
    '\s+', ' ', 'g')), '');
end
$$;

-- Executable by everyone, like the CHECK validators: the folded-name index
-- evaluates it with the rights of whoever writes a customers row (a host's
-- import as service_role). Pure and immutable, so that grants nothing else.
grant execute on function private.fold_name(text) to public;

create index customers_folded_name_idx on public.customers (restaurant_id, private.fold_name(full_name))
  where merged_into is null and erased_at is null and full_name is not null;

-- private.contact_lock_key: the advisory lock key of a normalized contact,
-- the same as private.lock_contacts takes.
create function private.contact_lock_key(p_restaurant_id uuid, p_kind text, p_value text)
returns bigint
language sql
immutable
set search_path = ''
as $$
  select hashtextextended(
    p_restaurant_id::text || case when p_kind = 'email' then ' e ' else ' p ' end || p_value, 0)
$$;

revoke all on function private.contact_lock_key(uuid, text, text) from public;

-- private.lock_identity: the restaurant's identity lock. Merges, unmerges
-- and erasures take it first, so they never interleave with each other.
create function private.lock_identity(p_restaurant_id uuid)
returns void
language sql
set search_path = ''
as $$
  select pg_advisory_xact_lock(hashtextextended(p_restaurant_id::text || ' identity', 0))
$$;

revoke all on function private.lock_identity(uuid) from public;

-------------------------------------------------------------------------------
-- private.lock_guest_contacts: the contact locks of every contact of the
-- given guests, in key order, then read again: a contact an upsert added
-- meanwhile (it held another contact of that guest, which we waited for) is
-- locked too, without waiting (40001 if another request holds it: the whole
-- call is retried, never a deadlock). Returns the keys locked.
-------------------------------------------------------------------------------
create function private.lock_guest_contacts(p_restaurant_id uuid, p_customer_ids uuid[])
returns bigint[]
language plpgsql
set search_path = ''
as $$
declare
  v_locked bigint[];
  v_now bigint[];
  v_key bigint;
  v_round integer := 0;
begin
  select coalesce(array_agg(distinct private.contact_lock_key(p_restaurant_id, x.kind, x.value_normalized)), '{}')
  into v_locked
  from public.customer_contacts x where x.customer_id = any(p_customer_ids);
  for v_key in select k from unnest(v_locked) k order by k loop
    perform pg_advisory_xact_lock(v_key);
  end loop;
  loop
    select coalesce(array_agg(distinct private.contact_lock_key(p_restaurant_id, x.kind, x.value_normalized)), '{}')
    into v_now
    from public.customer_contacts x where x.customer_id = any(p_customer_ids);
    exit when v_now <@ v_locked;
    v_round := v_round + 1;
    for v_key in select k from unnest(v_now) k where k <> all(v_locked) order by k loop
      if v_round > 5 or not pg_try_advisory_xact_lock(v_key) then
        raise exception using errcode = '40001', message = 'busy',
          detail = 'A guest''s contacts changed while they were being locked; try again.';
      end if;
      v_locked := v_locked || v_key;
    end loop;
  end loop;
  return v_locked;
end
$$;

revoke all on function private.lock_guest_contacts(uuid, uuid[]) from public;

-------------------------------------------------------------------------------
-- private.live_customer: the live guest an id stands for: itself, or the
-- guest it was merged into (followed, at most 32 steps: merges only ever
-- point at a guest that was live, so chains end). Null when the id is not
-- the restaurant's. An erased guest is returned as is.
-------------------------------------------------------------------------------
create function private.live_customer(p_restaurant_id uuid, p_customer_id uuid)
returns uuid
language plpgsql
stable
set search_path = ''
as $$
declare
  v_id uuid := p_customer_id;
  v_next uuid;
begin
  for i in 1..32 loop
    select c.merged_into into v_next from public.customers c
    where c.id = v_id and c.restaurant_id = p_restaurant_id;
    if not found then
      return null;
    end if;
    if v_next is null then
      return v_id;
    end if;
    v_id := v_next;
  end loop;
  raise exception using errcode = 'PT500', message = 'merge_chain_too_long',
    detail = 'A merged guest''s chain of merges is too long.';
end
$$;

revoke all on function private.live_customer(uuid, uuid) from public;

-------------------------------------------------------------------------------
-- private.lock_live_customer: the live guest an id stands for, its row
-- locked (FOR KEY SHARE: only a merge's FOR UPDATE waits for it), and
-- checked again under the lock, so a new booking or consent event never
-- lands on a guest that a merge has just made a tombstone. Null when the id
-- is not the restaurant's.
-------------------------------------------------------------------------------
create function private.lock_live_customer(p_restaurant_id uuid, p_customer_id uuid)
returns uuid
language plpgsql
set search_path = ''
as $$
declare
  v_id uuid := p_customer_id;
  v_next uuid;
begin
  for i in 1..32 loop
    select c.merged_into into v_next from public.customers c
    where c.id = v_id and c.restaurant_id = p_restaurant_id
    for key share;
    if not found then
      return null;
    end if;
    if v_next is null then
      return v_id;
    end if;
    v_id := v_next;
  end loop;
  raise exception using errcode = 'PT500', message = 'merge_chain_too_long',
    detail = 'A merged guest''s chain of merges is too long.';
end
$$;

revoke all on function private.lock_live_customer(uuid, uuid) from public;

-- private.merged_sources: every guest merged into this one, directly or
-- through a chain (tombstones only).
create function private.merged_sources(p_customer_id uuid)
returns uuid[]
language sql
stable
set search_path = ''
as $$
  with recursive s(id, depth) as (
    select c.id, 1 from public.customers c where c.merged_into = p_customer_id
    union all
    select c.id, s.depth + 1 from public.customers c join s on c.merged_into = s.id where s.depth < 32
  )
  select coalesce(array_agg(s.id), '{}') from s
$$;

revoke all on function private.merged_sources(uuid) from public;

-------------------------------------------------------------------------------
-- private.note_candidate: records that two live guests may be one (a pair
-- seen again moves its last time and count, and keeps its dismissal).
-------------------------------------------------------------------------------
create function private.note_candidate(p_restaurant_id uuid, p_a uuid, p_b uuid, p_reason text)
returns void
language plpgsql
set search_path = ''
as $$
begin
  insert into public.customer_duplicates (restaurant_id, customer_a, customer_b, reasons)
  values (p_restaurant_id, least(p_a, p_b), greatest(p_a, p_b), array[p_reason])
  on conflict (restaurant_id, customer_a, customer_b) do update
  set reasons = case when p_reason = any(public.customer_duplicates.reasons)
        then public.customer_duplicates.reasons else public.customer_duplicates.reasons || p_reason end,
      last_seen_at = now(),
      times_seen = public.customer_duplicates.times_seen + 1;
end
$$;

revoke all on function private.note_candidate(uuid, uuid, uuid, text) from public;

-------------------------------------------------------------------------------
-- private.note_name_duplicates: the second source of candidates. Two live
-- guests of one restaurant are a pair when their names are equal after
-- case and accent folding (private.fold_name) and they share
--   * an email domain that is not a common free-mail one (gmail.com,
--     outlook.com, …: everyone shares those), reason name_and_email_domain;
--   * or a phone number but for its last 4 digits (same length, same
--     country code and prefix: one household, one company's lines), reason
--     name_and_phone_prefix.
-- Checked when a guest is created or gains a name or a contact: one index
-- probe by folded name. Returns the number of pairs noted.
-------------------------------------------------------------------------------
create function private.note_name_duplicates(p_restaurant_id uuid, p_customer_id uuid)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  v_key text;
  v_other record;
  v_noted integer := 0;
begin
  select private.fold_name(c.full_name) into v_key from public.customers c
  where c.id = p_customer_id and c.merged_into is null and c.erased_at is null;
  if v_key is null then
    return 0;
  end if;
  for v_other in
    select o.id from public.customers o
    where o.restaurant_id = p_restaurant_id and private.fold_name(o.full_name) = v_key
      and o.merged_into is null and o.erased_at is null and o.full_name is not null
      and o.id <> p_customer_id
    limit 50
  loop
    if exists (
      select from public.customer_contacts x
      join public.customer_contacts y
        on y.customer_id = v_other.id and y.kind = 'email'
        and split_part(y.value_normalized, '@', 2) = split_part(x.value_normalized, '@', 2)
      where x.customer_id = p_customer_id and x.kind = 'email'
        and split_part(x.value_normalized, '@', 2) <> all(array[
          'gmail.com', 'googlemail.com', 'yahoo.com', 'yahoo.co.uk', 'yahoo.fr', 'yahoo.de', 'ymail.com',
          'hotmail.com', 'hotmail.co.uk', 'hotmail.fr', 'outlook.com', 'live.com', 'live.co.uk', 'msn.com',
          'icloud.com', 'me.com', 'mac.com', 'aol.com', 'gmx.com', 'gmx.de', 'gmx.net', 'web.de',
          'proton.me', 'protonmail.com', 'mail.com', 'yandex.com', 'yandex.ru', 'mail.ru', 'qq.com',
          '163.com', 'orange.fr', 'free.fr', 'laposte.net', 'btinternet.com', 'libero.it', 'example.com'
        ])
    ) then
      perform private.note_candidate(p_restaurant_id, p_customer_id, v_other.id, 'name_and_email_domain');
      v_noted := v_noted + 1;
    end if;
    if exists (
      select from public.customer_contacts x
      join public.customer_contacts y
        on y.customer_id = v_other.id and y.kind = 'phone'
        and length(y.value_normalized) = length(x.value_normalized)
        and left(y.value_normalized, -4) = left(x.value_normalized, -4)
      where x.customer_id = p_customer_id and x.kind = 'phone'
    ) then
      perform private.note_candidate(p_restaurant_id, p_customer_id, v_other.id, 'name_and_phone_prefix');
      v_noted := v_noted + 1;
    end if;
  end loop;
  return v_noted;
end
$$;

revoke all on function private.note_name_duplicates(uuid, uuid) from public;

-------------------------------------------------------------------------------
-- private.resolve_customer (replaced): resolves through every contact of
-- every live guest (customer_contacts, index probes) under the contacts'
-- locks. Email of A with phone of B returns A, reports B (conflict) and
-- records the pair as a candidate. A contact no live guest holds is kept:
-- in the guest's empty primary slot, else as a secondary contact
-- (contacts_added names both). contacts_not_saved stays, always empty.
-------------------------------------------------------------------------------
drop function private.resolve_customer(uuid, text, text, text, text, text);

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
  out contacts_not_saved text[],
  out contacts_added text[]
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
      restaurant_id, full_name, email, email_normalized, phone, phone_normalized
    )
    values (
      p_restaurant_id, v_name,
      case when v_email_free then v_email end, p_email_normalized,
      case when v_phone_free then v_phone end, p_phone_normalized
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

revoke all on function private.resolve_customer(uuid, text, text, text, text, text) from public;

-------------------------------------------------------------------------------
-- private.customer_json(id): the API shape of a guest, written once, in one
-- statement: the customer with all its emails and phones (the primary one
-- first, then by when each was added), its profile and its consent. It
-- replaces the core's customer_json(customer, profile), which it absorbs:
-- every answer builds one document, with no documents concatenated.
-------------------------------------------------------------------------------
create or replace function private.customer_json(p_customer_id uuid)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
begin
  return (
    select jsonb_build_object(
      'customer', jsonb_build_object(
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
      ),
      'consent', private.consent_json(c.id)
    )
    from public.customers c
    join public.customer_profiles p on p.customer_id = c.id
    cross join lateral (
      select
        coalesce(jsonb_agg(k.value_normalized
          order by k.value_normalized is distinct from c.email_normalized, k.added_at, k.id)
          filter (where k.kind = 'email'), '[]') as emails,
        coalesce(jsonb_agg(k.value_normalized
          order by k.value_normalized is distinct from c.phone_normalized, k.added_at, k.id)
          filter (where k.kind = 'phone'), '[]') as phones
      from public.customer_contacts k
      where k.customer_id = c.id
    ) x
    where c.id = p_customer_id
  );
end
$$;

drop function private.customer_json(public.customers, public.customer_profiles);

-------------------------------------------------------------------------------
-- private.customers_upsert (replaced): as before, resolving through every
-- contact; the answer adds contactsAdded.
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
returns jsonb
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

  -- The guest is found under its contacts' locks, which a merge takes too:
  -- it cannot become a tombstone before this commits.
  select * into v_who from private.resolve_customer(
    p_restaurant_id, p_full_name, p_email, p_email_normalized, p_phone, p_phone_normalized
  );

  if coalesce(p_marketing_opt_in, false) or jsonb_array_length(coalesce(p_consent, '[]')) > 0 then
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

  return private.customer_json(v_who.customer_id) || jsonb_build_object(
    'created', v_who.created,
    'matchedBy', v_who.matched_by,
    'conflict', v_who.conflict,
    'contactsNotSaved', to_jsonb(v_who.contacts_not_saved),
    'contactsAdded', to_jsonb(v_who.contacts_added),
    'bookingRecorded', v_recorded,
    'bookingApplied', v_applied
  );
end
$$;

-------------------------------------------------------------------------------
-- private.find_customer (replaced): by id (a merged id stands for the guest
-- it was merged into), else by any contact of a live guest, email first.
-------------------------------------------------------------------------------
create or replace function private.find_customer(
  p_restaurant_id uuid,
  p_customer_id uuid,
  p_email_normalized text,
  p_phone_normalized text
)
returns uuid
language plpgsql
stable
set search_path = ''
as $$
declare
  v_customer_id uuid;
begin
  if p_customer_id is not null then
    v_customer_id := private.live_customer(p_restaurant_id, p_customer_id);
  else
    select x.customer_id into v_customer_id from public.customer_contacts x
    where x.restaurant_id = p_restaurant_id and x.kind = 'email' and x.value_normalized = p_email_normalized;
    if v_customer_id is null then
      select x.customer_id into v_customer_id from public.customer_contacts x
      where x.restaurant_id = p_restaurant_id and x.kind = 'phone' and x.value_normalized = p_phone_normalized;
    end if;
  end if;
  if v_customer_id is null then
    raise exception using errcode = 'PT404', message = 'customer_not_found',
      detail = 'No customer of this restaurant matches.';
  end if;
  return v_customer_id;
end
$$;

-------------------------------------------------------------------------------
-- private.customer_cancel (replaced): for a booking not yet known, the
-- named guest is locked (FOR KEY SHARE, after the booking's lock) and
-- followed to its live guest, so a cancellation that arrives before its
-- booking never lands on a guest a merge has just made a tombstone.
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
returns jsonb
language plpgsql
set search_path = ''
set lock_timeout = '5s'
as $$
declare
  v_region text;
  v_customer_id uuid;
  v_at timestamptz := coalesce(p_cancelled_at, now());
  v_booking record;
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

  return private.customer_json(v_booking.customer_id) || jsonb_build_object(
    'cancellationRecorded',
    v_booking.applied and v_booking.previous_status is distinct from 'cancelled'
  );
end
$$;

-------------------------------------------------------------------------------
-- private.booking_update (replaced): a customer named for a booking not yet
-- recorded (a linked webhook row) is followed to its live guest and locked,
-- as in customer_cancel.
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
returns jsonb
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

  return private.customer_json(v_booking.customer_id) || jsonb_build_object(
    'booking', private.booking_json(v_state),
    'applied', v_booking.applied
  );
end
$$;

-------------------------------------------------------------------------------
-- private.customer_lookup (replaced): by id (a merged id finds the guest it
-- was merged into), or through every contact of the live guests.
-------------------------------------------------------------------------------
create or replace function private.customer_lookup(
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
    where c.id = private.live_customer(p_restaurant_id, p_customer_id) and c.erased_at is null;
    v_matched_by := 'id';
  else
    select x.customer_id into v_by_email from public.customer_contacts x
    where x.restaurant_id = p_restaurant_id and x.kind = 'email' and x.value_normalized = p_email_normalized;
    select x.customer_id into v_by_phone from public.customer_contacts x
    where x.restaurant_id = p_restaurant_id and x.kind = 'phone' and x.value_normalized = p_phone_normalized;
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

-------------------------------------------------------------------------------
-- private.customer_consent (replaced): the guest is followed to its live
-- guest under its row lock, as before otherwise.
-------------------------------------------------------------------------------
create or replace function private.customer_consent(
  p_claims jsonb,
  p_restaurant_id uuid,
  p_channel text,
  p_granted boolean,
  p_customer_id uuid default null,
  p_email_normalized text default null,
  p_phone_normalized text default null,
  p_phone_region text default null,
  p_source text default null,
  p_wording text default null
)
returns jsonb
language plpgsql
set search_path = ''
set lock_timeout = '5s'
as $$
declare
  v_region text;
  v_customer_id uuid;
  v_recorded boolean;
  v_next uuid;
begin
  v_region := private.authorize(p_claims, p_restaurant_id);
  perform private.check_phone_region(p_phone_region, v_region);
  if p_granted is null then
    raise exception using errcode = 'PT400', message = 'invalid_request',
      detail = 'granted must be true or false.';
  end if;
  v_customer_id := private.find_customer(
    p_restaurant_id, p_customer_id, p_email_normalized, p_phone_normalized
  );
  for i in 1..32 loop
    select c.merged_into into v_next from public.customers c
    where c.id = v_customer_id and c.erased_at is null
    for no key update;
    if not found then
      raise exception using errcode = 'PT404', message = 'customer_not_found',
        detail = 'No customer of this restaurant matches.';
    end if;
    exit when v_next is null;
    v_customer_id := v_next;
  end loop;
  v_recorded := private.record_consent(
    p_restaurant_id, v_customer_id, p_channel, p_granted,
    coalesce(p_source, case when p_claims ->> 'role' = 'authenticated' then 'staff' else 'api' end),
    private.actor(p_claims), p_wording
  );
  return private.customer_json(v_customer_id) || jsonb_build_object('recorded', v_recorded);
end
$$;

-------------------------------------------------------------------------------
-- private.consent_unsubscribe (replaced): a link minted for a guest later
-- merged withdraws on the guest it was merged into.
-------------------------------------------------------------------------------
create or replace function private.consent_unsubscribe(p_restaurant_id uuid, p_customer_id uuid, p_channel text)
returns jsonb
language plpgsql
set search_path = ''
set lock_timeout = '5s'
as $$
declare
  v_recorded boolean;
  v_customer_id uuid := p_customer_id;
  v_next uuid;
begin
  -- Followed under each row's lock, so a merge committing meanwhile is seen.
  for i in 1..32 loop
    select c.merged_into into v_next from public.customers c
    where c.id = v_customer_id and c.restaurant_id = p_restaurant_id and c.erased_at is null
    for no key update;
    if not found then
      raise exception using errcode = 'PT404', message = 'customer_not_found',
        detail = 'No customer of this restaurant matches.';
    end if;
    exit when v_next is null;
    v_customer_id := v_next;
  end loop;
  v_recorded := private.record_consent(
    p_restaurant_id, v_customer_id, p_channel, false, 'unsubscribe_link', 'service'
  );
  return jsonb_build_object(
    'consent', private.consent_json(v_customer_id), 'recorded', v_recorded
  );
end
$$;

-------------------------------------------------------------------------------
-- private.marketable_customers (replaced): merged tombstones are not guests.
-------------------------------------------------------------------------------
create or replace function private.marketable_customers(p_claims jsonb, p_restaurant_id uuid, p_channel text)
returns table (customer_id uuid, name text, contact text, granted_at timestamptz)
language plpgsql
stable
set search_path = ''
as $$
begin
  perform private.authorize(p_claims, p_restaurant_id);
  if p_channel is null or p_channel not in ('email', 'sms') then
    raise exception using errcode = 'PT400', message = 'invalid_request',
      detail = 'channel must be email or sms.';
  end if;
  return query
    select c.id, c.full_name,
      case when p_channel = 'email' then c.email_normalized else c.phone_normalized end,
      s.occurred_at
    from public.customers c
    cross join lateral private.consent_state(c.id, p_channel) s
    where c.restaurant_id = p_restaurant_id and c.erased_at is null and c.merged_into is null
      and s.action = 'grant'
      and (case when p_channel = 'email' then c.email_normalized else c.phone_normalized end) is not null
    order by c.id;
end
$$;

-------------------------------------------------------------------------------
-- private.customer_export (replaced): a merged id exports the guest it was
-- merged into; the document holds every contact of the guest (its merged
-- sources' included, as they moved to it), every booking, and the consent
-- history of the guest and of its merged sources, with their ids.
-------------------------------------------------------------------------------
create or replace function private.customer_export(p_claims jsonb, p_restaurant_id uuid, p_customer_id uuid)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_id uuid;
  v_sources uuid[];
  v_doc jsonb;
begin
  perform private.authorize_manager(p_claims, p_restaurant_id);
  v_id := coalesce(private.live_customer(p_restaurant_id, p_customer_id), p_customer_id);
  v_doc := private.customer_export_without_consent(p_claims, p_restaurant_id, v_id);
  v_sources := private.merged_sources(v_id);
  return v_doc || jsonb_build_object(
    'contacts', case when (v_doc -> 'customer' ->> 'erasedAt') is not null
      then v_doc -> 'contacts'
      else jsonb_build_object(
        'emails', coalesce((
          select jsonb_agg(jsonb_build_object('email', x.value_normalized, 'display', x.display,
            'addedAt', x.added_at, 'addedBy', x.added_by) order by x.added_at, x.id)
          from public.customer_contacts x where x.customer_id = v_id and x.kind = 'email'), '[]'),
        'phones', coalesce((
          select jsonb_agg(jsonb_build_object('phone', x.value_normalized, 'display', x.display,
            'addedAt', x.added_at, 'addedBy', x.added_by) order by x.added_at, x.id)
          from public.customer_contacts x where x.customer_id = v_id and x.kind = 'phone'), '[]')
      ) end,
    'mergedSources', to_jsonb(v_sources),
    'consentEvents', coalesce((
      select jsonb_agg(jsonb_build_object(
        'channel', e.channel,
        'action', e.action,
        'source', e.source,
        'wording', w.wording,
        'actor', e.actor,
        'occurredAt', e.occurred_at,
        'recordedAt', e.recorded_at,
        'customerId', e.customer_id
      ) order by e.occurred_at, e.recorded_at)
      from public.consent_events e
      left join public.consent_wordings w on w.id = e.wording_id
      where e.customer_id = v_id or e.customer_id = any(v_sources)
    ), '[]')
  );
end
$$;

-------------------------------------------------------------------------------
-- private.customer_erase (replaced): a merged id erases the guest it was
-- merged into, and a guest is erased with every source merged into it (the
-- same person): their names, contacts and opt-ins are cleared and they are
-- erased tombstones too. Takes the identity lock, then every contact's lock.
-------------------------------------------------------------------------------
create or replace function private.customer_erase(
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
  v_id uuid;
  v_all uuid[];
begin
  perform private.authorize_manager(p_claims, p_restaurant_id);
  if v_reason !~ '^[a-z][a-z0-9_]{0,39}$' then
    raise exception using errcode = 'PT400', message = 'invalid_request',
      detail = 'reason must be a code: lower-case letters, digits and _, at most 40.';
  end if;

  perform private.lock_identity(p_restaurant_id);
  v_id := private.live_customer(p_restaurant_id, p_customer_id);
  if v_id is null then
    raise exception using errcode = 'PT404', message = 'customer_not_found',
      detail = 'No customer of this restaurant matches.';
  end if;
  v_all := array[v_id] || private.merged_sources(v_id);
  perform private.lock_guest_contacts(p_restaurant_id, array[v_id]);
  perform from public.customers c where c.id = any(v_all) order by c.id for update;
  select * into v_customer from public.customers c where c.id = v_id;

  if v_customer.erased_at is not null then
    return private.customer_json(v_id) || jsonb_build_object('erased', false);
  end if;
  if not coalesce(p_force, false) and exists (
    select from public.customer_bookings b
    where b.customer_id = v_id and b.starts_at > now() and b.status in ('pending', 'confirmed')
  ) then
    raise exception using errcode = 'PT409', message = 'has_future_bookings',
      detail = 'The guest has a booking still to come; erase with force to proceed.';
  end if;

  perform set_config('customers.erasing', 'on', true);
  update public.bookings h
  set customer_name = null, customer_email = null, customer_phone = null
  where h.restaurant_id = p_restaurant_id
    -- By id, from the guests' linked rows (bookings_customer_id_idx) and the
    -- guest's booking states: an OR over the restaurant's rows would read
    -- every booking of the restaurant (found by npm run bench:scale).
    and h.id in (
      select x.id from public.bookings x
      where x.restaurant_id = p_restaurant_id and x.customer_id = any(v_all)
      union
      select b.booking_id from public.customer_bookings b where b.customer_id = v_id
    )
    and (h.customer_name is not null or h.customer_email is not null or h.customer_phone is not null);

  delete from public.customer_contacts x where x.customer_id = v_id;
  update public.customers c
  set full_name = null, email = null, email_normalized = null, phone = null, phone_normalized = null,
      marketing_opt_in = false, erased_at = now(), updated_at = now()
  where c.id = any(v_all) and c.erased_at is null;

  perform set_config('customers.erasing', 'off', true);

  insert into public.customer_erasures (restaurant_id, customer_id, actor_role, actor_sub, reason, forced)
  values (
    p_restaurant_id, v_id, p_claims ->> 'role',
    case when p_claims ->> 'role' = 'authenticated' then (p_claims ->> 'sub')::uuid end,
    v_reason, coalesce(p_force, false)
  );

  return private.customer_json(v_id) || jsonb_build_object('erased', true);
end
$$;

-------------------------------------------------------------------------------
-- private.merge_consent: the target's consent after a merge, per channel.
-- The guests' histories stay where they are (append-only); the state in
-- force across all of them is their latest event (a withdrawal wins a tie,
-- so a withdrawal on any of them wins over every grant given before it).
-- When that differs from the target's own state, an event with source
-- 'merge' (key merge:<id>:<channel>) is appended to the target at that
-- event's time. The target's first email opt-in becomes the earliest of
-- the guests'.
-------------------------------------------------------------------------------
create function private.merge_consent(
  p_restaurant_id uuid, p_merge_id uuid, p_target_id uuid, p_source_ids uuid[], p_actor text
)
returns void
language plpgsql
set search_path = ''
as $$
declare
  v_channel text;
  v_latest public.consent_events;
  v_own public.consent_events;
begin
  foreach v_channel in array array['email', 'sms'] loop
    select e.* into v_latest from public.consent_events e
    where (e.customer_id = p_target_id or e.customer_id = any(p_source_ids)) and e.channel = v_channel
    order by e.occurred_at desc, e.action desc
    limit 1;
    continue when v_latest.id is null;
    v_own := private.consent_state(p_target_id, v_channel);
    -- The latest event is the target's own state unless its action differs
    -- (then it is strictly later, or a withdrawal at the same time).
    if v_own.id is null or v_own.action <> v_latest.action then
      perform private.record_consent(
        p_restaurant_id, p_target_id, v_channel, v_latest.action = 'grant', 'merge', p_actor,
        (select w.wording from public.consent_wordings w where w.id = v_latest.wording_id),
        v_latest.occurred_at, 'merge:' || p_merge_id || ':' || v_channel
      );
    end if;
  end loop;
  update public.customer_profiles p
  set marketing_opt_in_at = case when c.marketing_opt_in then (
        select min(q.marketing_opt_in_at) from public.customer_profiles q
        where q.customer_id = p_target_id or q.customer_id = any(p_source_ids)
      ) else p.marketing_opt_in_at end,
      updated_at = now()
  from public.customers c
  where p.customer_id = p_target_id and c.id = p_target_id;
end
$$;

revoke all on function private.merge_consent(uuid, uuid, uuid, uuid[], text) from public;

-------------------------------------------------------------------------------
-- private.customers_merge
-- Merges 1 to 3 source guests into a target guest of the same restaurant,
-- in one transaction:
--   * the sources' booking states, contacts and host bookings.customer_id
--     links move to the target (their ids recorded in customer_merge_items);
--   * the target's name, and an empty primary email or phone, are filled
--     from the first source that has one;
--   * consent: see private.merge_consent;
--   * every profile involved is recounted from its bookings' states;
--   * the sources become tombstones: merged_into = the target;
--   * an audit row (customer_merges): who, when, what; ids only.
-- Owners, managers and the service only. Errors: PT400 merge_into_self,
-- duplicate_ids, invalid_request; PT404 customer_not_found (also for a
-- guest of another restaurant); PT409 already_merged (a source or the
-- target is a merged tombstone), customer_erased.
-- Locks: identity lock, every contact of every guest (sorted), the guests'
-- rows (by id), then the moved rows, then the profiles (by id).
-- Returns the target's customer, profile and consent, and mergeId.
-------------------------------------------------------------------------------
create function private.customers_merge(
  p_claims jsonb,
  p_restaurant_id uuid,
  p_target_id uuid,
  p_source_ids uuid[]
)
returns jsonb
language plpgsql
set search_path = ''
set lock_timeout = '5s'
as $$
declare
  v_merge_id uuid := gen_random_uuid();
  v_all uuid[];
  v_guest record;
  v_source uuid;
  v_name_filled boolean := false;
  v_opt_in_at timestamptz;
begin
  perform private.authorize_manager(p_claims, p_restaurant_id);
  if p_target_id is null or p_source_ids is null or cardinality(p_source_ids) not between 1 and 3
    or array_position(p_source_ids, null) is not null
  then
    raise exception using errcode = 'PT400', message = 'invalid_request',
      detail = 'Give a targetId and 1 to 3 sourceIds.';
  end if;
  if p_target_id = any(p_source_ids) then
    raise exception using errcode = 'PT400', message = 'merge_into_self',
      detail = 'A guest cannot be merged into itself.';
  end if;
  if (select count(distinct s) from unnest(p_source_ids) s) <> cardinality(p_source_ids) then
    raise exception using errcode = 'PT400', message = 'duplicate_ids',
      detail = 'An id is given twice.';
  end if;
  v_all := array[p_target_id] || p_source_ids;

  perform private.lock_identity(p_restaurant_id);
  if (select count(*) from public.customers c where c.id = any(v_all) and c.restaurant_id = p_restaurant_id)
    <> cardinality(v_all)
  then
    raise exception using errcode = 'PT404', message = 'customer_not_found',
      detail = 'No customer of this restaurant matches.';
  end if;
  perform private.lock_guest_contacts(p_restaurant_id, v_all);
  for v_guest in
    select c.id, c.merged_into, c.erased_at from public.customers c
    where c.id = any(v_all) order by c.id for update
  loop
    if v_guest.merged_into is not null then
      raise exception using errcode = 'PT409', message = 'already_merged',
        detail = 'A guest named has already been merged into another.';
    end if;
    if v_guest.erased_at is not null then
      raise exception using errcode = 'PT409', message = 'customer_erased',
        detail = 'A guest named has been erased.';
    end if;
  end loop;

  select p.marketing_opt_in_at into v_opt_in_at from public.customer_profiles p where p.customer_id = p_target_id;
  insert into public.customer_merges (id, restaurant_id, target_id, source_ids, actor_role, actor_sub, target_opt_in_at_before)
  values (
    v_merge_id, p_restaurant_id, p_target_id, p_source_ids, p_claims ->> 'role',
    case when p_claims ->> 'role' = 'authenticated' then (p_claims ->> 'sub')::uuid end,
    v_opt_in_at
  );

  foreach v_source in array p_source_ids loop
    with moved as (
      update public.customer_bookings b set customer_id = p_target_id
      where b.customer_id = v_source
      returning b.booking_id
    )
    insert into public.customer_merge_items (merge_id, kind, item_id, source_id)
    select v_merge_id, 'booking', moved.booking_id, v_source from moved;

    with moved as (
      update public.customer_contacts x set customer_id = p_target_id
      where x.customer_id = v_source
      returning x.id
    )
    insert into public.customer_merge_items (merge_id, kind, item_id, source_id)
    select v_merge_id, 'contact', moved.id, v_source from moved;

    with moved as (
      update public.bookings h set customer_id = p_target_id
      where h.customer_id = v_source
      returning h.id
    )
    insert into public.customer_merge_items (merge_id, kind, item_id, source_id)
    select v_merge_id, 'host_booking', moved.id, v_source from moved;
  end loop;

  update public.customers c
  set full_name = (
        select s.full_name from public.customers s
        where s.id = any(p_source_ids) and s.full_name is not null
        order by array_position(p_source_ids, s.id) limit 1
      ),
      updated_at = now()
  where c.id = p_target_id and c.full_name is null
    and exists (select from public.customers s where s.id = any(p_source_ids) and s.full_name is not null);
  v_name_filled := found;

  update public.customers c set merged_into = p_target_id, updated_at = now()
  where c.id = any(p_source_ids);

  -- An empty primary slot of the target takes the first source's contact
  -- of that kind (already among the target's contacts: it moved above).
  update public.customers c
  set email = coalesce(c.email, e.email), email_normalized = coalesce(c.email_normalized, e.email_normalized),
      phone = coalesce(c.phone, f.phone), phone_normalized = coalesce(c.phone_normalized, f.phone_normalized),
      updated_at = now()
  from (select null::int as one) x
  left join lateral (
    select s.email, s.email_normalized from public.customers s
    where s.id = any(p_source_ids) and s.email_normalized is not null
    order by array_position(p_source_ids, s.id) limit 1
  ) e on true
  left join lateral (
    select s.phone, s.phone_normalized from public.customers s
    where s.id = any(p_source_ids) and s.phone_normalized is not null
    order by array_position(p_source_ids, s.id) limit 1
  ) f on true
  where c.id = p_target_id
    and ((c.email_normalized is null and e.email_normalized is not null)
         or (c.phone_normalized is null and f.phone_normalized is not null));

  perform private.merge_consent(p_restaurant_id, v_merge_id, p_target_id, p_source_ids, private.actor(p_claims));

  -- Profiles last, by id; each recount is a statement of its own after the
  -- lock, so it sees every booking change committed before.
  perform from public.customer_profiles p where p.customer_id = any(v_all) order by p.customer_id for no key update;
  perform private.recount_profile(g) from unnest(v_all) g;

  update public.customer_merges m set target_name_filled = v_name_filled where m.id = v_merge_id;

  return private.customer_json(p_target_id) || jsonb_build_object('mergeId', v_merge_id);
end
$$;

revoke all on function private.customers_merge(jsonb, uuid, uuid, uuid[]) from public;

-------------------------------------------------------------------------------
-- private.customers_unmerge
-- Undoes a merge: each source is live again with the contacts, booking
-- states and host links it had before (the ids the merge recorded that are
-- still on the target); bookings and contacts the target gained after the
-- merge stay with it. A name the merge filled is taken back, and so is a
-- primary contact that went back to its source. The target's
-- consent returns to its own state (an event with source 'merge', key
-- unmerge:<id>:<channel>, when the merge's event is still in force); the
-- sources' histories were never touched. Every profile is recounted.
-- PT404 merge_not_found; PT409 already_unmerged, merge_superseded (a later
-- merge, not undone, involves the target: undo that first), customer_erased.
-- Returns mergeId, the target and the sources (customer, profile, consent).
-------------------------------------------------------------------------------
create function private.customers_unmerge(p_claims jsonb, p_restaurant_id uuid, p_merge_id uuid)
returns jsonb
language plpgsql
set search_path = ''
set lock_timeout = '5s'
as $$
declare
  v_merge public.customer_merges;
  v_all uuid[];
  v_source uuid;
  v_channel text;
  v_state public.consent_events;
  v_own public.consent_events;
begin
  perform private.authorize_manager(p_claims, p_restaurant_id);
  if p_merge_id is null then
    raise exception using errcode = 'PT400', message = 'invalid_request', detail = 'mergeId is required.';
  end if;
  perform private.lock_identity(p_restaurant_id);
  select * into v_merge from public.customer_merges m
  where m.id = p_merge_id and m.restaurant_id = p_restaurant_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'merge_not_found',
      detail = 'No merge of this restaurant has this id.';
  end if;
  if v_merge.unmerged_at is not null then
    raise exception using errcode = 'PT409', message = 'already_unmerged',
      detail = 'This merge has already been undone.';
  end if;
  if exists (
    select from public.customer_merges m
    where m.restaurant_id = p_restaurant_id and m.seq > v_merge.seq and m.unmerged_at is null
      and (m.target_id = v_merge.target_id or v_merge.target_id = any(m.source_ids))
  ) then
    raise exception using errcode = 'PT409', message = 'merge_superseded',
      detail = 'A later merge involves this guest; undo it first.';
  end if;
  v_all := array[v_merge.target_id] || v_merge.source_ids;

  perform private.lock_guest_contacts(p_restaurant_id, array[v_merge.target_id]);
  perform from public.customers c where c.id = any(v_all) order by c.id for update;
  if exists (select from public.customers c where c.id = any(v_all) and c.erased_at is not null) then
    raise exception using errcode = 'PT409', message = 'customer_erased',
      detail = 'The guest has been erased since; the merge cannot be undone.';
  end if;

  -- Per source, by primary key (= any of the ids recorded): index probes
  -- whatever the statistics say, never a join the planner could misjudge.
  foreach v_source in array v_merge.source_ids loop
    update public.customer_contacts x set customer_id = v_source
    where x.id = any(array(
        select i.item_id from public.customer_merge_items i
        where i.merge_id = p_merge_id and i.kind = 'contact' and i.source_id = v_source))
      and x.customer_id = v_merge.target_id;
    update public.customer_bookings b set customer_id = v_source
    where b.restaurant_id = p_restaurant_id
      and b.booking_id = any(array(
        select i.item_id from public.customer_merge_items i
        where i.merge_id = p_merge_id and i.kind = 'booking' and i.source_id = v_source))
      and b.customer_id = v_merge.target_id;
    update public.bookings h set customer_id = v_source
    where h.id = any(array(
        select i.item_id from public.customer_merge_items i
        where i.merge_id = p_merge_id and i.kind = 'host_booking' and i.source_id = v_source))
      and h.customer_id = v_merge.target_id;
  end loop;

  -- A primary contact of the target that went back to a source gives way
  -- to the target's oldest remaining contact of that kind (or none).
  update public.customers c
  set email = e.display, email_normalized = e.value_normalized, updated_at = now()
  from (select null::int as one) x
  left join lateral (
    select y.display, y.value_normalized from public.customer_contacts y
    where y.customer_id = v_merge.target_id and y.kind = 'email'
    order by y.added_at, y.id limit 1
  ) e on true
  where c.id = v_merge.target_id and c.email_normalized is not null
    and not exists (
      select from public.customer_contacts y
      where y.customer_id = v_merge.target_id and y.kind = 'email' and y.value_normalized = c.email_normalized
    );
  update public.customers c
  set phone = f.display, phone_normalized = f.value_normalized, updated_at = now()
  from (select null::int as one) x
  left join lateral (
    select y.display, y.value_normalized from public.customer_contacts y
    where y.customer_id = v_merge.target_id and y.kind = 'phone'
    order by y.added_at, y.id limit 1
  ) f on true
  where c.id = v_merge.target_id and c.phone_normalized is not null
    and not exists (
      select from public.customer_contacts y
      where y.customer_id = v_merge.target_id and y.kind = 'phone' and y.value_normalized = c.phone_normalized
    );

  update public.customers c set merged_into = null, updated_at = now()
  where c.id = any(v_merge.source_ids);
  if v_merge.target_name_filled then
    update public.customers c set full_name = null, updated_at = now() where c.id = v_merge.target_id;
  end if;

  -- The target's own consent: the state of its events other than this
  -- merge's, restored when this merge's event is still the one in force.
  foreach v_channel in array array['email', 'sms'] loop
    v_state := private.consent_state(v_merge.target_id, v_channel);
    continue when v_state.idempotency_key is distinct from 'merge:' || p_merge_id || ':' || v_channel;
    select e.* into v_own from public.consent_events e
    where e.customer_id = v_merge.target_id and e.channel = v_channel
      and e.idempotency_key is distinct from 'merge:' || p_merge_id || ':' || v_channel
    order by e.occurred_at desc, e.action desc
    limit 1;
    perform private.record_consent(
      p_restaurant_id, v_merge.target_id, v_channel, coalesce(v_own.action = 'grant', false), 'merge',
      private.actor(p_claims), null, now(), 'unmerge:' || p_merge_id || ':' || v_channel
    );
  end loop;
  update public.customer_profiles p set marketing_opt_in_at = v_merge.target_opt_in_at_before, updated_at = now()
  where p.customer_id = v_merge.target_id;

  perform from public.customer_profiles p where p.customer_id = any(v_all) order by p.customer_id for no key update;
  perform private.recount_profile(g) from unnest(v_all) g;

  update public.customer_merges m
  set unmerged_at = now(), unmerged_by_role = p_claims ->> 'role',
      unmerged_by_sub = case when p_claims ->> 'role' = 'authenticated' then (p_claims ->> 'sub')::uuid end
  where m.id = p_merge_id;

  return jsonb_build_object(
    'mergeId', p_merge_id,
    'unmerged', true,
    'target', private.customer_json(v_merge.target_id),
    'sources', (select jsonb_agg(private.customer_json(s) order by o) from unnest(v_merge.source_ids) with ordinality u(s, o))
  );
end
$$;

revoke all on function private.customers_unmerge(jsonb, uuid, uuid) from public;

-------------------------------------------------------------------------------
-- private.customer_duplicates
-- Lists a restaurant's candidate pairs whose guests are both live and that
-- were not dismissed, newest (last seen) first, p_limit (1-100, default 20)
-- a page; p_cursor is the previous page's nextCursor. Staff may list.
-- With p_dismiss (two ids), records instead that the pair is not one guest:
-- it is never listed again (owners, managers, the service).
-- Returns { pairs: [{ guests: [a, b], reasons, firstSeenAt, lastSeenAt,
-- timesSeen }], nextCursor } or { dismissed: true, pair: [a, b] }.
-------------------------------------------------------------------------------
create function private.customer_duplicates(
  p_claims jsonb,
  p_restaurant_id uuid,
  p_limit integer default null,
  p_cursor text default null,
  p_dismiss uuid[] default null
)
returns jsonb
language plpgsql
set search_path = ''
set lock_timeout = '5s'
as $$
declare
  v_limit integer := coalesce(p_limit, 20);
  v_at timestamptz;
  v_a uuid;
  v_b uuid;
  v_parts text[];
  v_rows jsonb;
  v_next text;
  v_count integer;
begin
  if p_dismiss is not null then
    perform private.authorize_manager(p_claims, p_restaurant_id);
    if cardinality(p_dismiss) <> 2 or array_position(p_dismiss, null) is not null then
      raise exception using errcode = 'PT400', message = 'invalid_request',
        detail = 'dismiss takes two customer ids.';
    end if;
    if p_dismiss[1] = p_dismiss[2] then
      raise exception using errcode = 'PT400', message = 'duplicate_ids', detail = 'An id is given twice.';
    end if;
    if (select count(*) from public.customers c where c.id = any(p_dismiss) and c.restaurant_id = p_restaurant_id) <> 2 then
      raise exception using errcode = 'PT404', message = 'customer_not_found',
        detail = 'No customer of this restaurant matches.';
    end if;
    insert into public.customer_duplicates (restaurant_id, customer_a, customer_b, times_seen, dismissed_at, dismissed_by)
    values (p_restaurant_id, least(p_dismiss[1], p_dismiss[2]), greatest(p_dismiss[1], p_dismiss[2]), 0, now(),
      private.actor(p_claims))
    on conflict (restaurant_id, customer_a, customer_b) do update
    set dismissed_at = coalesce(public.customer_duplicates.dismissed_at, now()),
        dismissed_by = coalesce(public.customer_duplicates.dismissed_by, excluded.dismissed_by);
    return jsonb_build_object('dismissed', true,
      'pair', jsonb_build_array(least(p_dismiss[1], p_dismiss[2]), greatest(p_dismiss[1], p_dismiss[2])));
  end if;

  perform private.authorize(p_claims, p_restaurant_id);
  if v_limit not between 1 and 100 then
    raise exception using errcode = 'PT400', message = 'invalid_request', detail = 'limit must be 1 to 100.';
  end if;
  if p_cursor is not null then
    begin
      v_parts := string_to_array(convert_from(decode(p_cursor, 'hex'), 'UTF8'), '|');
      v_at := v_parts[1]::timestamptz;
      v_a := v_parts[2]::uuid;
      v_b := v_parts[3]::uuid;
    exception when others then
      v_at := null;
    end;
    if v_at is null or v_a is null or v_b is null or cardinality(v_parts) <> 3 then
      raise exception using errcode = 'PT400', message = 'invalid_cursor',
        detail = 'cursor is not one this function gave.';
    end if;
  end if;

  with page as (
    select d.* from public.customer_duplicates d
    join public.customers a on a.id = d.customer_a and a.merged_into is null and a.erased_at is null
    join public.customers b on b.id = d.customer_b and b.merged_into is null and b.erased_at is null
    where d.restaurant_id = p_restaurant_id and d.dismissed_at is null
      and (v_at is null or (d.last_seen_at, d.customer_a, d.customer_b) < (v_at, v_a, v_b))
    order by d.last_seen_at desc, d.customer_a desc, d.customer_b desc
    limit v_limit + 1
  ), numbered as (
    select page.*, row_number() over (order by last_seen_at desc, customer_a desc, customer_b desc) as n from page
  )
  select
    coalesce(jsonb_agg(jsonb_build_object(
      'guests', jsonb_build_array(private.customer_json(customer_a), private.customer_json(customer_b)),
      'reasons', to_jsonb(reasons),
      'firstSeenAt', first_seen_at,
      'lastSeenAt', last_seen_at,
      'timesSeen', times_seen
    ) order by n) filter (where n <= v_limit), '[]'),
    count(*),
    string_agg(to_char(last_seen_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '|' ||
      customer_a || '|' || customer_b, '') filter (where n = v_limit)
  into v_rows, v_count, v_next
  from numbered;

  return jsonb_build_object(
    'pairs', v_rows,
    'nextCursor', case when v_count > v_limit then encode(convert_to(v_next, 'UTF8'), 'hex') end
  );
end
$$;

revoke all on function private.customer_duplicates(jsonb, uuid, integer, text, uuid[]) from public;

-------------------------------------------------------------------------------
-- Public RPC wrappers: the same functions and rules, claims from auth.jwt().
-------------------------------------------------------------------------------
create function public.customers_merge(restaurant_id uuid, target_id uuid, source_ids uuid[])
returns jsonb
language sql
security definer
set search_path = ''
as $$
  select private.customers_merge(
    p_claims => coalesce((select auth.jwt()), '{}'::jsonb),
    p_restaurant_id => restaurant_id,
    p_target_id => target_id,
    p_source_ids => source_ids
  )
$$;

revoke all on function public.customers_merge(uuid, uuid, uuid[]) from public, anon;
grant execute on function public.customers_merge(uuid, uuid, uuid[]) to authenticated, service_role;

create function public.customers_unmerge(restaurant_id uuid, merge_id uuid)
returns jsonb
language sql
security definer
set search_path = ''
as $$
  select private.customers_unmerge(
    p_claims => coalesce((select auth.jwt()), '{}'::jsonb),
    p_restaurant_id => restaurant_id,
    p_merge_id => merge_id
  )
$$;

revoke all on function public.customers_unmerge(uuid, uuid) from public, anon;
grant execute on function public.customers_unmerge(uuid, uuid) to authenticated, service_role;

create function public.customer_duplicates(
  restaurant_id uuid,
  "limit" integer default null,
  cursor text default null,
  dismiss uuid[] default null
)
returns jsonb
language sql
security definer
set search_path = ''
as $$
  select private.customer_duplicates(
    p_claims => coalesce((select auth.jwt()), '{}'::jsonb),
    p_restaurant_id => restaurant_id,
    p_limit => "limit",
    p_cursor => cursor,
    p_dismiss => dismiss
  )
$$;

revoke all on function public.customer_duplicates(uuid, integer, text, uuid[]) from public, anon;
grant execute on function public.customer_duplicates(uuid, integer, text, uuid[]) to authenticated, service_role;
