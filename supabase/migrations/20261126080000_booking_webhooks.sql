-- Database Webhooks for public.bookings, as the Supabase dashboard creates
-- them: triggers calling supabase_functions.http_request (pg_net).
--
--   INSERT on bookings                     -> POST <functions URL>/customers-upsert
--   UPDATE on bookings turning 'cancelled' -> POST <functions URL>/customer-cancel
--
-- The URL and the service credential come from Vault, so no secret is in
-- this file:
--
--   select vault.create_secret('https://<ref>.supabase.co/functions/v1', 'customers_functions_url');
--   select vault.create_secret('<service_role key or sb_secret_ key>', 'customers_service_key');
--   select private.install_booking_webhooks();   -- again after rotating the key
--
-- Where supabase_functions or Vault is missing (plain PostgreSQL, a project
-- without the secrets yet) installing is a no-op with a notice, so this
-- migration never breaks a local run. Deliveries are best-effort and may
-- repeat; both functions are idempotent.

-- private.install_booking_webhooks: (re)creates the two triggers from the
-- Vault secrets. Returns true when installed.
create function private.install_booking_webhooks()
returns boolean
language plpgsql
set search_path = ''
as $$
declare
  v_url text;
  v_key text;
  v_headers text;
begin
  if to_regnamespace('supabase_functions') is null
    or to_regprocedure('supabase_functions.http_request()') is null
    or to_regclass('vault.decrypted_secrets') is null
  then
    raise notice 'booking webhooks not installed: supabase_functions or vault is missing';
    return false;
  end if;

  -- Dynamic, with the schema as an identifier argument: vault does not exist
  -- everywhere this function is compiled and checked (plpgsql_check).
  execute format('select decrypted_secret from %I.decrypted_secrets where name = $1', 'vault')
    into v_url using 'customers_functions_url';
  execute format('select decrypted_secret from %I.decrypted_secrets where name = $1', 'vault')
    into v_key using 'customers_service_key';
  if v_url is null or v_key is null then
    raise notice 'booking webhooks not installed: Vault secrets customers_functions_url / customers_service_key are missing';
    return false;
  end if;

  v_url := rtrim(v_url, '/');
  -- supabase_functions.http_request takes its headers as JSON text; an
  -- sb_secret_ key goes in apikey, a JWT in Authorization (both accepted).
  v_headers := jsonb_build_object(
    'Content-Type', 'application/json',
    'Authorization', 'Bearer ' || v_key
  )::text;

  drop trigger if exists customers_upsert_on_booking_insert on public.bookings;
  drop trigger if exists customer_cancel_on_booking_cancel on public.bookings;

  execute format(
    'create trigger customers_upsert_on_booking_insert
       after insert on public.bookings
       for each row
       execute function supabase_functions.http_request(%L, %L, %L, %L, %L)',
    v_url || '/customers-upsert', 'POST', v_headers, '{}', '5000'
  );
  -- Only the transition into 'cancelled' is sent; the function checks it again.
  execute format(
    'create trigger customer_cancel_on_booking_cancel
       after update on public.bookings
       for each row
       when (new.status = %L and old.status is distinct from %L)
       execute function supabase_functions.http_request(%L, %L, %L, %L, %L)',
    'cancelled', 'cancelled', v_url || '/customer-cancel', 'POST', v_headers, '{}', '5000'
  );
  return true;
end
$$;

revoke all on function private.install_booking_webhooks() from public;

select private.install_booking_webhooks();
