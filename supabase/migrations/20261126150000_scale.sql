-------------------------------------------------------------------------------
-- Scale: flat cost from an empty database to millions of guests.
--
-- `npm run bench:scale` (BENCHMARKS.md, "Cost against data size") fills a
-- database with 1,000 restaurants, 10⁶ guests and 10⁷ bookings and reads the
-- plans of every hot-path statement. One statement scanned in proportion to
-- a restaurant's size: the erasure's clearing of the host's own rows
-- (public.bookings), which found them through the restaurant's index
-- (restaurant_id, start_at) and filtered every booking of the restaurant.
-------------------------------------------------------------------------------

-- bookings_restaurant_customer_idx: the host rows of one guest, by the same
-- key as the foreign key to customers (restaurant_id, customer_id), so the
-- erasure (and a customer's deletion, ON DELETE SET NULL) reads only that
-- guest's rows.
create index bookings_restaurant_customer_idx
  on public.bookings (restaurant_id, customer_id)
  where customer_id is not null;

-- private.customer_erase: unchanged but for the host rows' clearing, which
-- now names them by id: the guest's linked rows (the index above) and the
-- rows of the guest's bookings (customer_bookings, then bookings' primary
-- key), instead of an OR over the whole restaurant.
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
    and h.id in (
      select x.id from public.bookings x
      where x.restaurant_id = p_restaurant_id and x.customer_id = p_customer_id
      union
      select b.booking_id from public.customer_bookings b where b.customer_id = p_customer_id
    )
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
