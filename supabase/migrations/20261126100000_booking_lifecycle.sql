-- Booking lifecycle: each booking's latest known state decides the guest's
-- statistics.
--
-- public.customer_bookings holds one row per booking: its customer and the
-- latest value of each tracked field with the version that carried it. A
-- delivery (webhook snapshot, API call) carries some fields and a version;
-- each field takes the value of the newest version that carried it, ties
-- broken by the value itself, so the result is the same whatever the order
-- or number of deliveries (a last-writer-wins register per field). Partial
-- updates (a cancellation by id, a party-size change) therefore compose with
-- full snapshots arriving late.
--
-- Profiles are aggregates of their bookings' states, moved by delta in the
-- same transaction (the old state's contribution out, the new one in);
-- first/last booking and last visit are read back through an index.
-- private.profile_drift recounts everything and reports any difference.
--
-- Upgrade: the ledger (customer_booking_events) is folded into states, every
-- recorded booking and cancellation kept, profiles recounted, then dropped.

alter table public.restaurants
  add column late_cancellation_window interval not null default interval '24 hours'
    check (late_cancellation_window >= interval '0');

-- One CHECK for all counters: every update of a profile (one per booking
-- change) evaluates its constraints, and each constraint costs its own
-- setup per statement, however small its expression.
alter table public.customer_profiles
  add column total_late_cancellations integer not null default 0,
  add column total_visits integer not null default 0,
  add column total_no_shows integer not null default 0,
  add column last_visit_at timestamptz,
  drop constraint customer_profiles_total_bookings_check,
  drop constraint customer_profiles_total_covers_check,
  drop constraint customer_profiles_total_cancellations_check,
  add constraint customer_profiles_counts_check check (
    least(total_bookings, total_covers, total_cancellations, total_late_cancellations,
          total_visits, total_no_shows) >= 0
  );

-------------------------------------------------------------------------------
-- private.booking_state_valid: the rule every booking state obeys (the CHECK
-- of public.customer_bookings). A function, not the expression itself:
-- Postgres reads a CHECK's expression back from its stored text on every
-- insert or update, which for this one cost more than the insert; a
-- function's body is compiled once per connection. Pure, and executable by
-- everyone: a CHECK runs with the rights of whoever writes the row.
-------------------------------------------------------------------------------
create function private.booking_state_valid(
  p_status text,
  p_cancelled_at timestamptz,
  p_status_version timestamptz,
  p_covers integer,
  p_covers_version timestamptz,
  p_starts_at timestamptz,
  p_starts_at_version timestamptz,
  p_late boolean
)
returns boolean
language plpgsql
immutable
set search_path = ''
as $$
begin
  return (p_status is null or p_status in ('pending', 'confirmed', 'cancelled', 'completed', 'no_show'))
    and (p_covers is null or p_covers between 1 and 1000)
    -- A field and its version come together.
    and (p_status is null) = (p_status_version is null)
    and (p_covers is null) = (p_covers_version is null)
    and (p_starts_at is null) = (p_starts_at_version is null)
    and (p_cancelled_at is null or p_status = 'cancelled')
    and (not p_late or p_status = 'cancelled');
end
$$;

grant execute on function private.booking_state_valid(
  text, timestamptz, timestamptz, integer, timestamptz, timestamptz, timestamptz, boolean
) to public;

-- A booking's state. Fields a delivery did not carry stay null with a null
-- version (a cancellation that arrives before its booking knows no covers).
create table public.customer_bookings (
  restaurant_id uuid not null references public.restaurants (id) on delete cascade,
  booking_id uuid not null,
  customer_id uuid not null,
  status text,
  -- When it was cancelled (status 'cancelled' only).
  cancelled_at timestamptz,
  status_version timestamptz,
  covers integer,
  covers_version timestamptz,
  starts_at timestamptz,
  starts_at_version timestamptz,
  -- Cancelled less than the restaurant's late_cancellation_window before its
  -- start, judged with the window in force when the state was last applied.
  late_cancellation boolean not null default false,
  recorded_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (restaurant_id, booking_id),
  constraint customer_bookings_customer_fkey foreign key (restaurant_id, customer_id)
    references public.customers (restaurant_id, id) on delete cascade,
  constraint customer_bookings_state check (private.booking_state_valid(
    status, cancelled_at, status_version, covers, covers_version, starts_at, starts_at_version,
    late_cancellation
  ))
);

create index customer_bookings_customer_starts_at_idx
  on public.customer_bookings (customer_id, starts_at);
create index customer_bookings_customer_visits_idx
  on public.customer_bookings (customer_id, starts_at) where status = 'completed';

alter table public.customer_bookings enable row level security;
revoke all on public.customer_bookings from anon, authenticated;
grant select on public.customer_bookings to authenticated;
grant all on public.customer_bookings to service_role;

create policy customer_bookings_staff_read on public.customer_bookings
  for select to authenticated
  using ((select private.is_member(restaurant_id)));

-------------------------------------------------------------------------------
-- private.booking_contribution: what one booking state (its covers, status
-- and late flag) adds to its guest's counters: [bookings, covers,
-- cancellations, late cancellations, visits, no-shows]. A state counts as a
-- booking once its covers are known. Scalars, not the row: a row passed to
-- a function is flattened and rebuilt on every call.
-------------------------------------------------------------------------------
create function private.booking_contribution(p_covers integer, p_status text, p_late boolean)
returns integer[]
language plpgsql
immutable
set search_path = ''
as $$
begin
  return array[
    (p_covers is not null)::int,
    coalesce(p_covers, 0),
    coalesce(p_status = 'cancelled', false)::int,
    coalesce(p_late, false)::int,
    coalesce(p_status = 'completed', false)::int,
    coalesce(p_status = 'no_show', false)::int
  ];
end
$$;

revoke all on function private.booking_contribution(integer, text, boolean) from public;

-------------------------------------------------------------------------------
-- private.add_to_profile: moves a profile's counters by a contribution delta
-- and reads its dates back through the customer's booking indexes, for a
-- change that may have shrunk them (a start moved, a visit taken back, a
-- booking moved away). It first locks the profile, so the read that follows
-- (a statement of its own, hence a fresh snapshot) sees every booking change
-- committed by a concurrent transaction that updated this profile before.
-- (A change that only adds grows the profile in private.apply_booking.)
-------------------------------------------------------------------------------
create function private.add_to_profile(p_customer_id uuid, p_delta integer[])
returns void
language plpgsql
set search_path = ''
as $$
begin
  perform from public.customer_profiles p where p.customer_id = p_customer_id for no key update;
  update public.customer_profiles p
  set total_bookings = p.total_bookings + p_delta[1],
      total_covers = p.total_covers + p_delta[2],
      total_cancellations = p.total_cancellations + p_delta[3],
      total_late_cancellations = p.total_late_cancellations + p_delta[4],
      total_visits = p.total_visits + p_delta[5],
      total_no_shows = p.total_no_shows + p_delta[6],
      first_booking_at = d.first_at,
      last_booking_at = d.last_at,
      last_visit_at = (
        select max(b.starts_at) from public.customer_bookings b
        where b.customer_id = p_customer_id and b.status = 'completed'
      ),
      updated_at = now()
  from (
    select min(b.starts_at) as first_at, max(b.starts_at) as last_at
    from public.customer_bookings b where b.customer_id = p_customer_id
  ) d
  where p.customer_id = p_customer_id;
end
$$;

revoke all on function private.add_to_profile(uuid, integer[]) from public;

-------------------------------------------------------------------------------
-- private.apply_booking: merges one delivery into a booking's state and moves
-- its guest's profile by the difference. Null fields were not carried. A new
-- booking is recorded on p_customer_id; a known one stays on its customer.
-- p_cancelled_at: when a 'cancelled' status happened (default: the version,
-- or the time already known when the booking was cancelled before).
-- p_status_is_default: the status was not said, only assumed for a new
-- booking ('confirmed'); it then loses to any status actually delivered.
-- A state known only from a cancellation (no covers yet) belongs to the
-- customer of the booking when it arrives: it moves there.
-- Returns the booking's customer, whether the booking itself (its covers)
-- was seen for the first time (recorded), the status before, and
-- whether any value changed (applied). The caller holds the booking lock.
-------------------------------------------------------------------------------
create function private.apply_booking(
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

  select * into v_old from public.customer_bookings b
  where b.restaurant_id = p_restaurant_id and b.booking_id = p_booking_id
  for update;

  if not found then
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

-- private.booking_json: the API shape of a booking's state.
create function private.booking_json(b public.customer_bookings)
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select jsonb_build_object(
    'id', b.booking_id,
    'customerId', b.customer_id,
    'status', b.status,
    'covers', b.covers,
    'startsAt', b.starts_at,
    'cancelledAt', b.cancelled_at,
    'lateCancellation', b.late_cancellation,
    'updatedAt', b.updated_at
  )
$$;

revoke all on function private.booking_json(public.customer_bookings) from public;

-------------------------------------------------------------------------------
-- Upgrade: the ledger's events become states. A booking event gives covers,
-- start and 'confirmed'; a cancellation event makes it 'cancelled' (as the
-- ledger counted it, whatever the order the two were recorded in). The
-- booking's customer owns both.
-------------------------------------------------------------------------------
insert into public.customer_bookings (
  restaurant_id, booking_id, customer_id, status, cancelled_at, status_version,
  covers, covers_version, starts_at, starts_at_version, late_cancellation, recorded_at, updated_at
)
select
  coalesce(bk.restaurant_id, cx.restaurant_id),
  coalesce(bk.booking_id, cx.booking_id),
  coalesce(bk.customer_id, cx.customer_id),
  case when cx.booking_id is not null then 'cancelled' else 'confirmed' end,
  cx.occurred_at,
  greatest(bk.recorded_at, cx.recorded_at),
  bk.covers,
  bk.recorded_at,
  bk.occurred_at,
  case when bk.occurred_at is not null then bk.recorded_at end,
  coalesce(cx.occurred_at > bk.occurred_at - r.late_cancellation_window, false),
  least(bk.recorded_at, cx.recorded_at),
  greatest(bk.recorded_at, cx.recorded_at)
from (select * from public.customer_booking_events where kind = 'booking') bk
full join (select * from public.customer_booking_events where kind = 'cancellation') cx
  on cx.restaurant_id = bk.restaurant_id and cx.booking_id = bk.booking_id
join public.restaurants r on r.id = coalesce(bk.restaurant_id, cx.restaurant_id);

-------------------------------------------------------------------------------
-- private.profile_counts: a profile recomputed from its bookings' states.
-- private.profile_drift: every profile whose stored numbers differ from the
-- recount (of one restaurant, or of all), with both. Tests and the
-- benchmarks' data check use it; it is the proof of the deltas.
-------------------------------------------------------------------------------
create function private.profile_counts(p_customer_id uuid)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'totalBookings', count(*) filter (where b.covers is not null),
    'totalCovers', coalesce(sum(b.covers), 0),
    'totalCancellations', count(*) filter (where b.status = 'cancelled'),
    'totalLateCancellations', count(*) filter (where b.late_cancellation),
    'totalVisits', count(*) filter (where b.status = 'completed'),
    'totalNoShows', count(*) filter (where b.status = 'no_show'),
    'firstBookingAt', min(b.starts_at),
    'lastBookingAt', max(b.starts_at),
    'lastVisitAt', max(b.starts_at) filter (where b.status = 'completed')
  )
  from public.customer_bookings b
  where b.customer_id = p_customer_id
$$;

revoke all on function private.profile_counts(uuid) from public;

create function private.profile_stored(p public.customer_profiles)
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select jsonb_build_object(
    'totalBookings', p.total_bookings,
    'totalCovers', p.total_covers,
    'totalCancellations', p.total_cancellations,
    'totalLateCancellations', p.total_late_cancellations,
    'totalVisits', p.total_visits,
    'totalNoShows', p.total_no_shows,
    'firstBookingAt', p.first_booking_at,
    'lastBookingAt', p.last_booking_at,
    'lastVisitAt', p.last_visit_at
  )
$$;

revoke all on function private.profile_stored(public.customer_profiles) from public;

create function private.profile_drift(p_restaurant_id uuid default null)
returns table (customer_id uuid, stored jsonb, recounted jsonb)
language sql
stable
set search_path = ''
as $$
  select p.customer_id, s.stored, private.profile_counts(p.customer_id)
  from public.customer_profiles p
  cross join lateral (select private.profile_stored(p) as stored) s
  where (p_restaurant_id is null or p.restaurant_id = p_restaurant_id)
    and s.stored is distinct from private.profile_counts(p.customer_id)
$$;

revoke all on function private.profile_drift(uuid) from public;

-- private.recount_profile: sets a profile to its recount (upgrade, merges).
create function private.recount_profile(p_customer_id uuid)
returns void
language sql
set search_path = ''
as $$
  update public.customer_profiles p
  set total_bookings = (c ->> 'totalBookings')::int,
      total_covers = (c ->> 'totalCovers')::int,
      total_cancellations = (c ->> 'totalCancellations')::int,
      total_late_cancellations = (c ->> 'totalLateCancellations')::int,
      total_visits = (c ->> 'totalVisits')::int,
      total_no_shows = (c ->> 'totalNoShows')::int,
      first_booking_at = (c ->> 'firstBookingAt')::timestamptz,
      last_booking_at = (c ->> 'lastBookingAt')::timestamptz,
      last_visit_at = (c ->> 'lastVisitAt')::timestamptz,
      updated_at = now()
  from (select private.profile_counts(p_customer_id) as c) counts
  where p.customer_id = p_customer_id
$$;

revoke all on function private.recount_profile(uuid) from public;

select private.recount_profile(p.customer_id) from public.customer_profiles p;

-------------------------------------------------------------------------------
-- The ledger and its functions give way to states.
-------------------------------------------------------------------------------
drop trigger link_booking_to_customer on public.customer_booking_events;
drop function public.customers_upsert(uuid, text, text, text, boolean, uuid, integer, timestamptz, timestamptz);
drop function public.customer_cancel(uuid, uuid, uuid, text, text, timestamptz);
drop function private.customers_upsert(
  jsonb, uuid, text, text, text, text, text, text, boolean, timestamptz, uuid, integer, timestamptz, timestamptz
);
drop function private.customer_cancel(jsonb, uuid, uuid, uuid, text, text, text, timestamptz);
drop function private.record_booking(uuid, uuid, uuid, integer, timestamptz);
drop function private.record_cancellation(uuid, uuid, uuid, timestamptz);
drop table public.customer_booking_events;

-- A recorded booking links the host's row to its customer, as before: in
-- private.apply_booking, where a booking's state is first written (a row
-- trigger cost as much as the rest of that insert).
drop function private.link_booking_to_customer();

-------------------------------------------------------------------------------
-- The reference public.bookings: updated_at moves on every update (it is the
-- webhook's version) and cancelled_at records when the status turned
-- 'cancelled', so a host that copies this table gives exact snapshots.
-------------------------------------------------------------------------------
alter table public.bookings add column cancelled_at timestamptz;

create function private.stamp_booking()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  -- updated_at is the snapshot's version: the database's clock, never the writer's.
  new.updated_at := case when tg_op = 'UPDATE'
    then greatest(now(), old.updated_at + interval '1 microsecond') else now() end;
  new.cancelled_at := case
    when new.status <> 'cancelled' then null
    when tg_op = 'UPDATE' and old.status = 'cancelled' then coalesce(new.cancelled_at, old.cancelled_at)
    else coalesce(new.cancelled_at, new.updated_at)
  end;
  return new;
end
$$;

revoke all on function private.stamp_booking() from public;

create trigger stamp_booking
  before insert or update on public.bookings
  for each row
  execute function private.stamp_booking();

-------------------------------------------------------------------------------
-- private.customer_json: the profile gains the lifecycle numbers.
-------------------------------------------------------------------------------
create or replace function private.customer_json(c public.customers, p public.customer_profiles)
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
      'totalLateCancellations', p.total_late_cancellations,
      'totalVisits', p.total_visits,
      'totalNoShows', p.total_no_shows,
      'firstBookingAt', p.first_booking_at,
      'lastBookingAt', p.last_booking_at,
      'lastVisitAt', p.last_visit_at,
      'marketingOptInAt', p.marketing_opt_in_at
    )
  )
$$;

-------------------------------------------------------------------------------
-- private.check_booking_change: refuses what no booking can be.
-------------------------------------------------------------------------------
create function private.check_booking_change(p_status text, p_covers integer)
returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if p_status is not null and p_status not in ('pending', 'confirmed', 'cancelled', 'completed', 'no_show') then
    raise exception using errcode = 'PT400', message = 'invalid_request',
      detail = 'status must be pending, confirmed, cancelled, completed or no_show.';
  end if;
  if p_covers is not null and p_covers not between 1 and 1000 then
    raise exception using errcode = 'PT400', message = 'invalid_request',
      detail = 'covers must be between 1 and 1000.';
  end if;
end
$$;

revoke all on function private.check_booking_change(text, integer) from public;

-------------------------------------------------------------------------------
-- private.apply_upsert_consents: the consent an upsert brings. Here only
-- marketingOptIn, an email opt-in, and only when its booking (if any) is
-- newly recorded; the consent migration replaces this with evidence per
-- channel (p_consent). Returns the number of grants applied.
-------------------------------------------------------------------------------
create function private.apply_upsert_consents(
  p_claims jsonb,
  p_restaurant_id uuid,
  p_customer_id uuid,
  p_marketing_opt_in boolean,
  p_consent jsonb,
  p_consent_at timestamptz,
  p_booking_id uuid,
  p_booking_recorded boolean
)
returns integer
language plpgsql
set search_path = ''
as $$
begin
  if not coalesce(p_marketing_opt_in, false) or (p_booking_id is not null and not p_booking_recorded) then
    return 0;
  end if;
  perform private.grant_marketing_opt_in(p_customer_id, p_consent_at);
  return 1;
end
$$;

revoke all on function private.apply_upsert_consents(jsonb, uuid, uuid, boolean, jsonb, timestamptz, uuid, boolean)
  from public;

-------------------------------------------------------------------------------
-- private.customers_upsert
-- Resolves the customer (resolve_customer), applies the booking's snapshot
-- (status default 'confirmed', version default now) and an opt-in: one
-- transaction. An opt-in that comes with a booking applies only when that
-- booking is newly recorded, and never with a cancelled one.
-- Returns customer, profile, created, matchedBy, conflict, contactsNotSaved,
-- bookingRecorded (null without a booking; false when already known) and
-- bookingApplied (false when the snapshot was stale or identical).
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
returns jsonb
language plpgsql
set search_path = ''
set lock_timeout = '5s'
as $$
declare
  v_region text;
  -- A status not given is assumed 'confirmed' for a new booking, and never
  -- overrides one that was given (a cancellation, say), whatever the order.
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

  select * into v_who from private.resolve_customer(
    p_restaurant_id, p_full_name, p_email, p_email_normalized, p_phone, p_phone_normalized
  );

  -- Lock order: the customer's row before its profile (as consent changes
  -- take them), so a grant racing a withdrawal cannot deadlock.
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

  -- Consent comes with the booking it was given with, never with a cancelled one.
  if p_booking_id is null or v_status <> 'cancelled' then
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
    'bookingRecorded', v_recorded,
    'bookingApplied', v_applied
  );
end
$$;

revoke all on function private.customers_upsert(
  jsonb, uuid, text, text, text, text, text, text, boolean, timestamptz, jsonb,
  uuid, integer, timestamptz, text, timestamptz, timestamptz
) from public;

-------------------------------------------------------------------------------
-- private.find_customer: the restaurant's customer named by id, else by
-- normalized email or phone (email first, the stronger identity); PT404
-- customer_not_found when none matches.
-------------------------------------------------------------------------------
create function private.find_customer(
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
  return v_customer_id;
end
$$;

revoke all on function private.find_customer(uuid, uuid, text, text) from public;

-------------------------------------------------------------------------------
-- private.customer_cancel
-- Cancels a booking: its status becomes 'cancelled' as of p_cancelled_at
-- (its version; default now) unless a newer change says otherwise. The
-- customer is named by id or by normalized contact and must exist (PT404
-- customer_not_found); a known booking stays on its own customer, and a
-- cancellation that arrives before its booking is kept on the customer named
-- until the booking comes. Returns customer, profile and
-- cancellationRecorded (true when the booking turned cancelled now).
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
  select * into v_booking from private.apply_booking(
    p_restaurant_id, p_booking_id, v_customer_id, v_at, 'cancelled', v_at
  );

  return private.customer_json(v_booking.customer_id) || jsonb_build_object(
    'cancellationRecorded',
    v_booking.applied and v_booking.previous_status is distinct from 'cancelled'
  );
end
$$;

revoke all on function private.customer_cancel(jsonb, uuid, uuid, uuid, text, text, text, timestamptz) from public;

-------------------------------------------------------------------------------
-- private.booking_update
-- Changes a recorded booking: a visit (completed) or a no-show, a
-- correction, a reinstatement, a new party size or time. Only the fields
-- given change, as of p_version (default now). An unknown booking is PT404
-- booking_not_found, unless p_customer_id names the customer to record it
-- on (a webhook row the host already linked). Returns customer, profile,
-- booking and applied.
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
returns jsonb
language plpgsql
set search_path = ''
set lock_timeout = '5s'
as $$
declare
  v_booking record;
  v_state public.customer_bookings;
begin
  perform private.authorize(p_claims, p_restaurant_id);
  perform private.check_booking_change(p_status, p_covers);
  if p_booking_id is null then
    raise exception using errcode = 'PT400', message = 'invalid_request',
      detail = 'bookingId is required.';
  end if;

  perform private.lock_booking(p_restaurant_id, p_booking_id);
  if not exists (
    select from public.customer_bookings b
    where b.restaurant_id = p_restaurant_id and b.booking_id = p_booking_id
  ) then
    if p_customer_id is null then
      raise exception using errcode = 'PT404', message = 'booking_not_found',
        detail = 'No booking of this restaurant has this id.';
    end if;
    if not exists (
      select from public.customers c where c.id = p_customer_id and c.restaurant_id = p_restaurant_id
    ) then
      raise exception using errcode = 'PT404', message = 'customer_not_found',
        detail = 'No customer of this restaurant matches.';
    end if;
  end if;

  select * into v_booking from private.apply_booking(
    p_restaurant_id, p_booking_id, p_customer_id, coalesce(p_version, now()),
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

revoke all on function private.booking_update(
  jsonb, uuid, uuid, text, integer, timestamptz, timestamptz, timestamptz, uuid
) from public;

-------------------------------------------------------------------------------
-- Public RPC wrappers (see the rpc migration): the same functions, claims
-- from auth.jwt(), canonical contacts only.
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
returns jsonb
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
returns jsonb
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
returns jsonb
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

-------------------------------------------------------------------------------
-- Webhooks: every INSERT goes to customers-upsert, every UPDATE that changes
-- a column the module reads to booking-update. Each function accepts both
-- events, so hosts with other routing keep working.
-------------------------------------------------------------------------------
create or replace function private.install_booking_webhooks()
returns boolean
language plpgsql
set search_path = ''
as $$
begin
  if to_regnamespace('net') is null or to_regclass('vault.decrypted_secrets') is null then
    raise notice 'booking webhooks not installed: pg_net or vault is missing';
    return false;
  end if;

  drop trigger if exists customers_upsert_on_booking_insert on public.bookings;
  drop trigger if exists customer_cancel_on_booking_cancel on public.bookings;
  drop trigger if exists booking_update_on_booking_update on public.bookings;
  create trigger customers_upsert_on_booking_insert
    after insert on public.bookings
    for each row
    execute function private.booking_webhook('customers-upsert');
  -- Only changes the module reads are sent (not the customer_id link the
  -- module itself writes); the function checks again.
  create trigger booking_update_on_booking_update
    after update on public.bookings
    for each row
    when (
      (old.status, old.party_size, old.start_at, old.cancelled_at,
       old.customer_name, old.customer_email, old.customer_phone, old.marketing_opt_in)
      is distinct from
      (new.status, new.party_size, new.start_at, new.cancelled_at,
       new.customer_name, new.customer_email, new.customer_phone, new.marketing_opt_in)
    )
    execute function private.booking_webhook('booking-update');
  return true;
end
$$;

select private.install_booking_webhooks();
