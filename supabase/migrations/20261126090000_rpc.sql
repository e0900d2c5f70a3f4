-- Public RPC wrappers (PostgREST `rpc()`): the same functions and the same
-- authorization rule as the edge functions, with the caller's claims read
-- from auth.jwt(). Contacts must already be in canonical form (the edge
-- functions normalize them; here the CHECK constraints refuse anything
-- else), and a phone is taken as E.164, so no region is involved.

-- public.customers_upsert: see private.customers_upsert. An opt-in given
-- here is given now.
create function public.customers_upsert(
  restaurant_id uuid,
  full_name text default null,
  email text default null,
  phone text default null,
  marketing_opt_in boolean default false,
  booking_id uuid default null,
  booking_covers integer default null,
  booking_starts_at timestamptz default null,
  booking_cancelled_at timestamptz default null
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
    p_booking_cancelled_at => booking_cancelled_at
  )
$$;

revoke all on function public.customers_upsert(uuid, text, text, text, boolean, uuid, integer, timestamptz, timestamptz)
  from public, anon;
grant execute on function public.customers_upsert(uuid, text, text, text, boolean, uuid, integer, timestamptz, timestamptz)
  to authenticated, service_role;

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

-- public.set_marketing_consent: see private.set_marketing_consent.
create function public.set_marketing_consent(restaurant_id uuid, customer_id uuid, opt_in boolean)
returns jsonb
language sql
security definer
set search_path = ''
as $$
  select private.set_marketing_consent(
    p_claims => coalesce((select auth.jwt()), '{}'::jsonb),
    p_restaurant_id => restaurant_id,
    p_customer_id => customer_id,
    p_opt_in => opt_in
  )
$$;

revoke all on function public.set_marketing_consent(uuid, uuid, boolean) from public, anon;
grant execute on function public.set_marketing_consent(uuid, uuid, boolean)
  to authenticated, service_role;
