-- Bounded waits. A request blocked on a contact's advisory lock or a row lock
-- (a stuck transaction, a long manual edit) gives up after 5 s with
-- lock_not_available, which the functions answer 503 with Retry-After,
-- instead of holding a pooled connection indefinitely. Set on the functions,
-- so it holds for every caller (edge functions, rpc, psql) and whatever the
-- pooler does with connection parameters.
alter function private.customers_upsert(
  jsonb, uuid, text, text, text, text, text, text, boolean, uuid, integer, timestamptz
) set lock_timeout = '5s';
alter function private.customer_cancel(jsonb, uuid, uuid, uuid, text, text, text, timestamptz)
  set lock_timeout = '5s';
alter function private.set_marketing_consent(jsonb, uuid, uuid, boolean) set lock_timeout = '5s';
