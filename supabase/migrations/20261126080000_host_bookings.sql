-- The host application's bookings: a reference public.bookings table (a host
-- with its own table keeps the same columns), its link to the module's
-- customers, and the Database Webhooks that feed the module.
--
--   INSERT on bookings -> POST <functions URL>/customers-upsert
--   UPDATE on bookings -> POST <functions URL>/booking-update (since the
--                         booking lifecycle migration; before it, only a
--                         status turning 'cancelled', to customer-cancel)
--
-- The functions URL and the service credential live in Vault and are read
-- when a trigger fires, inside a security definer function, so no secret is
-- ever part of a trigger's or function's definition (pg_trigger, pg_dump and
-- `supabase db dump` show none):
--
--   select vault.create_secret('https://<ref>.supabase.co/functions/v1', 'customers_functions_url');
--   select vault.create_secret('<sb_secret_ key or service_role JWT>', 'customers_service_key');
--   select private.install_booking_webhooks();
--
-- Rotating the key is vault.update_secret; nothing needs reinstalling.
-- Where pg_net or Vault is missing (plain PostgreSQL) installing is a no-op
-- with a notice, so this migration never breaks a local run. Deliveries are
-- best-effort and may repeat; both functions are idempotent.

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

alter table public.bookings enable row level security;

revoke all on public.bookings from anon, authenticated;
grant select, insert, update on public.bookings to authenticated;
grant all on public.bookings to service_role;

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
-- private.link_booking_to_customer: when a booking is recorded in the ledger
-- (webhook, API call or rpc), the host's bookings row with that id gets its
-- customer_id, unless the host already set one, so the UPDATE that cancels
-- it names its customer. Same transaction; the status is unchanged, so the
-- cancellation webhook does not fire.
-------------------------------------------------------------------------------
create function private.link_booking_to_customer()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  update public.bookings b
  set customer_id = new.customer_id, updated_at = now()
  where b.id = new.booking_id
    and b.restaurant_id = new.restaurant_id
    and b.customer_id is null;
  return null;
end
$$;

revoke all on function private.link_booking_to_customer() from public;

create trigger link_booking_to_customer
  after insert on public.customer_booking_events
  for each row
  when (new.kind = 'booking')
  execute function private.link_booking_to_customer();

-------------------------------------------------------------------------------
-- private.vault_secret: a Vault secret by name, or null where Vault or the
-- secret is missing. Dynamic SQL with a bind parameter for the name.
-------------------------------------------------------------------------------
create function private.vault_secret(p_name text)
returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  v_secret text;
begin
  if to_regclass('vault.decrypted_secrets') is null then
    return null;
  end if;
  -- The schema as an identifier argument: plpgsql_check checks a constant
  -- EXECUTE string against a catalog that may have no vault.
  execute format('select decrypted_secret from %I.decrypted_secrets where name = $1', 'vault')
    into v_secret using p_name;
  return v_secret;
end
$$;

revoke all on function private.vault_secret(text) from public;

-------------------------------------------------------------------------------
-- private.booking_webhook: AFTER trigger on public.bookings. POSTs the
-- Database Webhook body ({ type, table, schema, record, old_record }) to the
-- function named by the trigger's argument, with the service credential
-- read from Vault now. Security definer: the credential is readable by the
-- function's owner only, whoever's statement fired the trigger. Without the
-- secrets it sends nothing (a warning), never failing the host's write.
-------------------------------------------------------------------------------
create function private.booking_webhook()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_url text := private.vault_secret('customers_functions_url');
  v_key text := private.vault_secret('customers_service_key');
begin
  -- An erasure clearing the guest's details from the host's rows: sending
  -- the rows (old values included) would spread what it removes.
  if current_setting('customers.erasing', true) = 'on' then
    return null;
  end if;
  if v_url is null or v_key is null or to_regnamespace('net') is null then
    raise warning 'booking webhook not sent: pg_net or the Vault secrets are missing';
    return null;
  end if;
  execute format(
    'select %I.http_post(url => $1, body => $2, headers => $3, timeout_milliseconds => $4)', 'net'
  )
    using
      rtrim(v_url, '/') || '/' || tg_argv[0],
      jsonb_build_object(
        'type', tg_op,
        'table', tg_table_name,
        'schema', tg_table_schema,
        'record', to_jsonb(new),
        'old_record', case when tg_op = 'UPDATE' then to_jsonb(old) end
      ),
      jsonb_build_object('Content-Type', 'application/json', 'Authorization', 'Bearer ' || v_key),
      5000;
  return null;
end
$$;

revoke all on function private.booking_webhook() from public;

-------------------------------------------------------------------------------
-- private.install_booking_webhooks: (re)creates the two triggers where
-- pg_net is installed. Returns true when installed. The triggers carry only
-- the target function's name.
-------------------------------------------------------------------------------
create function private.install_booking_webhooks()
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
  create trigger customers_upsert_on_booking_insert
    after insert on public.bookings
    for each row
    execute function private.booking_webhook('customers-upsert');
  -- Only the transition into 'cancelled' is sent; the function checks it again.
  create trigger customer_cancel_on_booking_cancel
    after update on public.bookings
    for each row
    when (new.status = 'cancelled' and old.status is distinct from 'cancelled')
    execute function private.booking_webhook('customer-cancel');
  return true;
end
$$;

revoke all on function private.install_booking_webhooks() from public;

select private.install_booking_webhooks();
