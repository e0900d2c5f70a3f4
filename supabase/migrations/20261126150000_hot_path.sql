-- Hot path: less work per request for the same rules.
--
-- Profiled with perf and callgrind on a PostgreSQL 15 backend running the
-- upsert of new guests (BENCHMARKS.md, "Where the working tree is slower"):
-- a fifth of its time went to AFTER triggers (two plpgsql triggers on each
-- new customer, and nine foreign-key checks for a guest with an email, a
-- phone and a booking), a tenth to the CHECK validators (nested helpers,
-- each through a SET clause, and two regular expressions with bounded
-- repeats), and a retried delivery still locked its booking's row. Nothing
-- here changes what is accepted or stored.

-------------------------------------------------------------------------------
-- Foreign keys: one check per row, not two.
--
-- A contact, a booking state and a profile each point at their customer by
-- (restaurant_id, customer_id), which already proves the restaurant exists
-- (and deleting a restaurant still removes them, through its customers).
-- Their second key on restaurant_id alone cost a check on every insert. The
-- profile's key becomes the composite one, so its restaurant_id can no longer
-- disagree with its customer's.
-------------------------------------------------------------------------------
alter table public.customer_contacts drop constraint customer_contacts_restaurant_id_fkey;
alter table public.customer_bookings drop constraint customer_bookings_restaurant_id_fkey;
alter table public.customer_profiles
  drop constraint customer_profiles_customer_id_fkey,
  drop constraint customer_profiles_restaurant_id_fkey,
  add constraint customer_profiles_customer_fkey foreign key (restaurant_id, customer_id)
    references public.customers (restaurant_id, id) on delete cascade;

-------------------------------------------------------------------------------
-- private.customer_created: a new customer gets its profile and, while live,
-- its primary email and phone as contacts, however the row was inserted (the
-- upsert, an import, a service script). One trigger where there were two: a
-- plpgsql trigger call costs about as much as the insert it makes. A new
-- customer has no contacts yet, so nothing is looked up first.
-------------------------------------------------------------------------------
create function private.customer_created()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  insert into public.customer_profiles (customer_id, restaurant_id, marketing_opt_in_at)
  values (new.id, new.restaurant_id, case when new.marketing_opt_in then now() end)
  on conflict (customer_id) do nothing;
  if new.merged_into is null and new.erased_at is null then
    insert into public.customer_contacts (restaurant_id, customer_id, kind, value_normalized, display, added_by)
    select new.restaurant_id, new.id, k.kind, k.value, k.display, 'primary'
    from (values ('email', new.email_normalized, new.email), ('phone', new.phone_normalized, new.phone))
      k(kind, value, display)
    where k.value is not null;
  end if;
  return null;
end
$$;

revoke all on function private.customer_created() from public;

drop trigger create_customer_profile on public.customers;
drop function private.create_customer_profile();

create trigger customer_created
  after insert on public.customers
  for each row
  execute function private.customer_created();

-- sync_primary_contacts now follows updates only (a primary contact that
-- changes); its function is unchanged.
drop trigger sync_primary_contacts on public.customers;
create trigger sync_primary_contacts
  after update of email_normalized, phone_normalized on public.customers
  for each row
  when (new.merged_into is null and new.erased_at is null
        and (new.email_normalized is not null or new.phone_normalized is not null))
  execute function private.sync_primary_contacts();

-------------------------------------------------------------------------------
-- Pure helpers with SQL-standard bodies.
--
-- A body written as `return <expression>` is parsed once, when the function
-- is created: its names are bound then (so no search_path is needed, and
-- none may be set: a SET clause would stop the inlining) and its literals
-- too (so a session with standard_conforming_strings off reads the same
-- patterns). The planner inlines such a function into the expression that
-- calls it: the validators and apply_booking evaluate these rules in place,
-- with no call. Same rules, same signatures and
-- grants; CREATE OR REPLACE keeps the CHECKs and the index that use them.
-------------------------------------------------------------------------------

-- private.is_clean_text: display text without surrounding blanks or
-- control characters, at most p_max_length characters.
create or replace function private.is_clean_text(p_value text, p_max_length integer)
returns boolean
language sql
immutable
return p_value is null
  or (p_value = btrim(p_value) and p_value <> '' and length(p_value) <= p_max_length
      and p_value !~ '[\u0001-\u001f\u007f-\u009f]');

-- private.is_normalized_email: lower-cased (Unicode), NFC, domain in ASCII
-- (IDNA), no white space, no control or invisible characters.
create or replace function private.is_normalized_email(p_value text)
returns boolean
language sql
immutable
return p_value is null
  or (
    p_value = lower(p_value collate "und-x-icu")
    and p_value is nfc normalized
    and length(p_value) <= 320
    and p_value !~ '[\u0001-\u001f\u007f-\u009f\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]'
    and p_value ~ '^[^@[:space:]]+@[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$'
    -- The local part's 1 to 64 characters, counted here: a bounded repeat
    -- in the pattern ({1,64}) made every match ~7 times slower.
    and strpos(p_value, '@') <= 65
  );

-- private.is_e164: '+', country code, subscriber number; 7 to 15 digits
-- (counted by length, not by a bounded repeat: see is_normalized_email).
create or replace function private.is_e164(p_value text)
returns boolean
language sql
immutable
return p_value is null or (p_value ~ '^\+[1-9][0-9]*$' and length(p_value) between 8 and 16);

-- private.fold_name stays plpgsql: inlined, it no longer matched the
-- folded-name index's expression, and the look-up scanned. Its patterns are
-- escape strings, which read the same whatever standard_conforming_strings
-- says, so its second SET clause goes.
create or replace function private.fold_name(p_name text)
returns text
language plpgsql
immutable
parallel safe
set search_path = ''
as $$
begin
  return nullif(btrim(regexp_replace(
    lower(regexp_replace(normalize(p_name, nfd), E'[\\u0300-\\u036f]', '', 'g') collate "und-x-icu"),
    E'\\s+', ' ', 'g')), '');
end
$$;

-- private.booking_contribution: what one booking state adds to its guest's
-- counters: [bookings, covers, cancellations, late cancellations, visits,
-- no-shows]. Inlined into apply_booking.
create or replace function private.booking_contribution(p_covers integer, p_status text, p_late boolean)
returns integer[]
language sql
immutable
return array[
  (p_covers is not null)::int,
  coalesce(p_covers, 0),
  coalesce(p_status = 'cancelled', false)::int,
  coalesce(p_late, false)::int,
  coalesce(p_status = 'completed', false)::int,
  coalesce(p_status = 'no_show', false)::int
];

-------------------------------------------------------------------------------
-- private.apply_booking (replaces the lifecycle's): the same merge of one
-- delivery into a booking's state, decided first on an unlocked read. A
-- delivery that changes nothing, versions included (a webhook retried, an
-- older snapshot), now takes no row lock and writes nothing: a retry costs a
-- read, not a commit. What follows is the lifecycle's function with that
-- read in front; its rules are unchanged.
-------------------------------------------------------------------------------
create or replace function private.apply_booking(
  p_restaurant_id uuid,
  p_booking_id uuid,
  p_customer_id uuid,
  p_version timestamptz,
  p_status text default null,
  p_cancelled_at timestamptz default null,
  p_covers integer default null,
  p_starts_at timestamptz default null,
  p_status_is_default boolean default false,
  out customer_id uuid,
  out recorded boolean,
  out applied boolean,
  out previous_status text
)
language plpgsql
set search_path = ''
as $$
declare
  -- Ties between versions go to the higher rank, so every order agrees.
  c_rank constant text[] := array['pending', 'confirmed', 'completed', 'no_show', 'cancelled'];
  v_old public.customer_bookings;
  v_new public.customer_bookings;
  v_version timestamptz;
  v_status_version timestamptz;
  v_window interval;
  v_was integer[];
  v_is integer[];
  v_cancelled_at timestamptz;
  v_starts_at timestamptz;
  v_late boolean;
  v_delta integer[];
  v_recount boolean;
  v_start timestamptz;
  v_visit timestamptz;
  v_known boolean;
  v_locked boolean;
begin
  -- '-infinity' is the weakest version the state itself uses (a start never
  -- given, a status only assumed): a delivery may not claim it, nor infinity.
  if p_version is null or not isfinite(p_version) then
    raise exception using errcode = 'PT400', message = 'invalid_request',
      detail = 'A booking change needs its version, a finite time.';
  end if;
  -- A version from the future (a wrong clock, a forged row) would freeze the
  -- booking against every real change: versions are at most now.
  v_version := least(p_version, now());
  v_status_version := case when p_status_is_default then '-infinity' else v_version end;

  -- Read without a lock first: a delivery that changes nothing (a webhook
  -- sent again, a stale snapshot) is answered from that read and writes
  -- nothing, so its transaction stays read-only (no row lock, no commit to
  -- flush). Any other is merged again into the row read under its lock: a
  -- merge or an erasure may have moved or removed the booking in between
  -- (deliveries cannot: they hold the booking lock).
  v_locked := false;
  <<merge>>
  loop
    if v_locked then
      select * into v_old from public.customer_bookings b
      where b.restaurant_id = p_restaurant_id and b.booking_id = p_booking_id
      for update;
    else
      select * into v_old from public.customer_bookings b
      where b.restaurant_id = p_restaurant_id and b.booking_id = p_booking_id;
    end if;
    v_known := found;
    exit merge when not v_known;

    -- A known booking: each field takes the newer version. A state known
    -- only from a cancellation (no covers yet) belongs to the customer of the
    -- booking when it arrives: it moves there.
    v_new := v_old;
    if v_old.covers is null and p_covers is not null and p_customer_id is not null then
      v_new.customer_id := p_customer_id;
    end if;
    if p_status is not null and (
      v_new.status_version is null
      or v_status_version > v_new.status_version
      or (v_status_version = v_new.status_version
          and array_position(c_rank, p_status) > array_position(c_rank, v_new.status))
    ) then
      v_new.cancelled_at := case
        when p_status <> 'cancelled' then null
        when p_cancelled_at is not null then p_cancelled_at
        when v_new.status = 'cancelled' then v_new.cancelled_at
        else v_status_version
      end;
      v_new.status := p_status;
      v_new.status_version := v_status_version;
    end if;
    if p_covers is not null and (
      v_new.covers_version is null
      or v_version > v_new.covers_version
      or (v_version = v_new.covers_version and p_covers > v_new.covers)
    ) then
      v_new.covers := p_covers;
      v_new.covers_version := v_version;
    end if;
    if p_starts_at is not null and (
      v_new.starts_at_version is null
      or v_version > v_new.starts_at_version
      or (v_version = v_new.starts_at_version and p_starts_at > v_new.starts_at)
    ) then
      v_new.starts_at := p_starts_at;
      v_new.starts_at_version := v_version;
    end if;
    if v_new.starts_at is null and v_new.covers is not null then
      v_new.starts_at := v_version;
      v_new.starts_at_version := '-infinity';
    end if;
    -- Late only against a start someone gave, not the recording time; the
    -- window is read only for a cancelled booking.
    v_new.late_cancellation := false;
    if v_new.status = 'cancelled' and v_new.starts_at_version > '-infinity' then
      select r.late_cancellation_window into v_window from public.restaurants r where r.id = p_restaurant_id;
      v_new.late_cancellation := v_new.cancelled_at > v_new.starts_at - v_window;
    end if;

    exit merge when v_locked;
    if v_new is not distinct from v_old then
      customer_id := v_old.customer_id;
      previous_status := v_old.status;
      recorded := false;
      applied := false;
      return;
    end if;
    v_locked := true;
  end loop merge;

  if not v_known then
    -- First delivery of this booking (the hot path): its state is the
    -- delivery itself, and the profile only grows. Scalars, not the row
    -- variable: this path runs on every new booking. A new booking without a
    -- start is dated by its version until a start arrives ('-infinity' as
    -- version lets any real start win).
    v_cancelled_at := case when p_status = 'cancelled' then coalesce(p_cancelled_at, v_status_version) end;
    v_starts_at := coalesce(p_starts_at, case when p_covers is not null then v_version end);
    v_late := false;
    if p_status = 'cancelled' and p_starts_at is not null then
      select r.late_cancellation_window into v_window from public.restaurants r where r.id = p_restaurant_id;
      v_late := v_cancelled_at > p_starts_at - v_window;
    end if;
    insert into public.customer_bookings (
      restaurant_id, booking_id, customer_id, status, cancelled_at, status_version,
      covers, covers_version, starts_at, starts_at_version, late_cancellation
    ) values (
      p_restaurant_id, p_booking_id, p_customer_id, p_status, v_cancelled_at,
      case when p_status is not null then v_status_version end,
      p_covers, case when p_covers is not null then v_version end,
      v_starts_at,
      case when p_starts_at is not null then v_version when p_covers is not null then '-infinity' end,
      v_late
    );
    -- The host's booking row, when it has one, now points at its customer.
    update public.bookings b
    set customer_id = p_customer_id
    where b.id = p_booking_id and b.restaurant_id = p_restaurant_id and b.customer_id is null;
    customer_id := p_customer_id;
    recorded := p_covers is not null;
    applied := true;
    v_delta := private.booking_contribution(p_covers, p_status, v_late);
    v_recount := false;
    v_start := v_starts_at;
    v_visit := case when p_status = 'completed' then v_starts_at end;
  else
    customer_id := v_new.customer_id;
    previous_status := v_old.status;
    recorded := v_new.covers is not null and v_old.covers is null;
    applied := (v_new.customer_id, v_new.status, v_new.cancelled_at, v_new.covers, v_new.starts_at, v_new.late_cancellation)
      is distinct from
      (v_old.customer_id, v_old.status, v_old.cancelled_at, v_old.covers, v_old.starts_at, v_old.late_cancellation);
    if v_new is distinct from v_old then
      -- Versions move even when values do not, so an older delivery arriving
      -- later still loses.
      v_new.updated_at := case when applied then now() else v_old.updated_at end;
      update public.customer_bookings b
      set customer_id = v_new.customer_id, status = v_new.status, cancelled_at = v_new.cancelled_at, status_version = v_new.status_version,
          covers = v_new.covers, covers_version = v_new.covers_version,
          starts_at = v_new.starts_at, starts_at_version = v_new.starts_at_version,
          late_cancellation = v_new.late_cancellation, updated_at = v_new.updated_at
      where b.restaurant_id = p_restaurant_id and b.booking_id = p_booking_id;
    end if;
    if not applied then
      return;
    end if;
    v_was := private.booking_contribution(v_old.covers, v_old.status, v_old.late_cancellation);
    v_is := private.booking_contribution(v_new.covers, v_new.status, v_new.late_cancellation);
    if v_old.customer_id <> v_new.customer_id then
      -- Moved: out of the old owner's numbers, into the new one's. Both
      -- profiles are locked in id order first: two moves crossing between
      -- the same two guests would otherwise lock them in opposite orders.
      perform from public.customer_profiles p
      where p.customer_id in (v_old.customer_id, v_new.customer_id)
      order by p.customer_id
      for no key update;
      perform private.add_to_profile(
        v_old.customer_id, array[-v_was[1], -v_was[2], -v_was[3], -v_was[4], -v_was[5], -v_was[6]]
      );
      v_delta := v_is;
      v_recount := false;
    else
      v_delta := array[v_is[1] - v_was[1], v_is[2] - v_was[2], v_is[3] - v_was[3],
                       v_is[4] - v_was[4], v_is[5] - v_was[5], v_is[6] - v_was[6]];
      -- The dates only grow unless the start moved or a visit was taken back.
      v_recount := v_old.starts_at is distinct from v_new.starts_at
        or (v_old.status = 'completed' and v_new.status is distinct from 'completed');
    end if;
    v_start := v_new.starts_at;
    v_visit := case when v_new.status = 'completed' then v_new.starts_at end;
  end if;

  if v_recount then
    perform private.add_to_profile(customer_id, v_delta);
  else
    -- The profile grows: counters by the delta, dates extended by this
    -- booking (inline: a call costs as much as this statement).
    update public.customer_profiles p
    set total_bookings = p.total_bookings + v_delta[1],
        total_covers = p.total_covers + v_delta[2],
        total_cancellations = p.total_cancellations + v_delta[3],
        total_late_cancellations = p.total_late_cancellations + v_delta[4],
        total_visits = p.total_visits + v_delta[5],
        total_no_shows = p.total_no_shows + v_delta[6],
        first_booking_at = least(p.first_booking_at, v_start),
        last_booking_at = greatest(p.last_booking_at, v_start),
        last_visit_at = greatest(p.last_visit_at, v_visit),
        updated_at = now()
    where p.customer_id = apply_booking.customer_id;
  end if;
end
$$;

revoke all on function private.apply_booking(
  uuid, uuid, uuid, timestamptz, text, timestamptz, integer, timestamptz, boolean
) from public;

-------------------------------------------------------------------------------
-- private.note_name_duplicates (replaces the duplicates feature's): the same
-- pairs for the same reasons, in at most two statements: the namesakes (at
-- most 50; a guest with none is done after this one probe), then all of
-- them checked against the guest's own email domains and phone prefixes,
-- read once. A common name cost two queries per namesake (a hundred
-- statements for fifty).
-------------------------------------------------------------------------------
create or replace function private.note_name_duplicates(p_restaurant_id uuid, p_customer_id uuid)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  v_namesakes uuid[];
  v_pair record;
  v_noted integer := 0;
begin
  -- Most guests have no namesake: one index probe, and done.
  select array_agg(o.id) into v_namesakes from (
    select o.id from public.customers o
    where o.restaurant_id = p_restaurant_id
      and private.fold_name(o.full_name) = (
        select private.fold_name(c.full_name) from public.customers c
        where c.id = p_customer_id and c.merged_into is null and c.erased_at is null
      )
      and o.merged_into is null and o.erased_at is null and o.full_name is not null
      and o.id <> p_customer_id
    limit 50
  ) o;
  if v_namesakes is null then
    return 0;
  end if;
  for v_pair in
    with mine as (
      select x.kind, x.value_normalized as value, split_part(x.value_normalized, '@', 2) as domain
      from public.customer_contacts x
      where x.customer_id = p_customer_id
    )
    select n.id, r.reason
    from unnest(v_namesakes) n(id)
    cross join lateral (
      select 'name_and_email_domain'::text as reason, 1 as rank
      where exists (
        select from mine m
        join public.customer_contacts y
          on y.customer_id = n.id and y.kind = 'email'
          and split_part(y.value_normalized, '@', 2) = m.domain
        where m.kind = 'email'
          and m.domain <> all(array[
            'gmail.com', 'googlemail.com', 'yahoo.com', 'yahoo.co.uk', 'yahoo.fr', 'yahoo.de', 'ymail.com',
            'hotmail.com', 'hotmail.co.uk', 'hotmail.fr', 'outlook.com', 'live.com', 'live.co.uk', 'msn.com',
            'icloud.com', 'me.com', 'mac.com', 'aol.com', 'gmx.com', 'gmx.de', 'gmx.net', 'web.de',
            'proton.me', 'protonmail.com', 'mail.com', 'yandex.com', 'yandex.ru', 'mail.ru', 'qq.com',
            '163.com', 'orange.fr', 'free.fr', 'laposte.net', 'btinternet.com', 'libero.it', 'example.com'
          ])
      )
      union all
      select 'name_and_phone_prefix', 2
      where exists (
        select from mine m
        join public.customer_contacts y
          on y.customer_id = n.id and y.kind = 'phone'
          and length(y.value_normalized) = length(m.value)
          and left(y.value_normalized, -4) = left(m.value, -4)
        where m.kind = 'phone'
      )
    ) r
    order by n.id, r.rank
  loop
    perform private.note_candidate(p_restaurant_id, p_customer_id, v_pair.id, v_pair.reason);
    v_noted := v_noted + 1;
  end loop;
  return v_noted;
end
$$;

revoke all on function private.note_name_duplicates(uuid, uuid) from public;

-- private.contact_lock_key: the advisory lock key of a normalized contact.
-- Was a sql function with a SET clause, parsed and planned on every call
-- before PostgreSQL 18; now inlined where it is used.
create or replace function private.contact_lock_key(p_restaurant_id uuid, p_kind text, p_value text)
returns bigint
language sql
immutable
return hashtextextended(
  p_restaurant_id::text || case when p_kind = 'email' then ' e ' else ' p ' end || p_value, 0);

-------------------------------------------------------------------------------
-- private.lock_contacts (replaces the core's): the same keys, in the same
-- ascending order, computed and taken without a query. Every upsert and
-- cancellation takes them; a query costs an executor start-up.
-------------------------------------------------------------------------------
create or replace function private.lock_contacts(p_restaurant_id uuid, p_email text, p_phone text)
returns void
language plpgsql
set search_path = ''
as $$
declare
  v_email bigint := case when p_email is not null then private.contact_lock_key(p_restaurant_id, 'email', p_email) end;
  v_phone bigint := case when p_phone is not null then private.contact_lock_key(p_restaurant_id, 'phone', p_phone) end;
begin
  if v_phone < v_email then
    perform pg_advisory_xact_lock(v_phone);
    perform pg_advisory_xact_lock(v_email);
    return;
  end if;
  if v_email is not null then
    perform pg_advisory_xact_lock(v_email);
  end if;
  if v_phone is not null then
    perform pg_advisory_xact_lock(v_phone);
  end if;
end
$$;

revoke all on function private.lock_contacts(uuid, text, text) from public;
