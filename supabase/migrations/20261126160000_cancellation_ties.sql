-- Cancellation ties: two snapshots of one booking with the same version,
-- both cancelled but at different times, now end the same way in either
-- order.
--
-- A host transaction that cancels a booking and then corrects its
-- cancelled_at stamps both row versions with the same updated_at (now() is
-- the transaction's time), and its two Database Webhook deliveries may
-- arrive in either order. apply_booking broke ties between statuses by rank,
-- but two cancellations have the same rank, so the first to arrive kept its
-- time, and with it the late-cancellation verdict. The later cancellation
-- time now wins, as the larger value does for covers and start times.
-- Callers give a cancellation its time (the row's cancelled_at, else the
-- change's version); the one exception is a webhook row that was already
-- cancelled and has no cancelled_at column, which keeps the time known.
--
-- Only apply_booking changes: it is defined again in full (a landed
-- migration is never edited), with that one condition added.

-------------------------------------------------------------------------------
-- private.apply_booking (replaces the hot-path one): see above; everything
-- else as before.
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
  -- Ties between versions go to the higher rank, so every order agrees;
  -- between two cancellations, to the later cancellation time.
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
          and (array_position(c_rank, p_status) > array_position(c_rank, v_new.status)
               -- Two cancellations of one version: the later time wins.
               or (p_status = 'cancelled' and v_new.status = 'cancelled'
                   and p_cancelled_at > v_new.cancelled_at)))
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
