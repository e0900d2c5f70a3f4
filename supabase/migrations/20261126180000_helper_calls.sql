-- Helper calls: a function that only this module's other functions call runs
-- under its caller's search_path instead of setting its own.
--
-- A SET clause is paid on every call: PostgreSQL saves the setting, applies
-- the function's value and restores it on return (fmgr_security_definer;
-- a search_path change also drops the cached namespace path), where a plain
-- call costs none of that. A new guest's upsert makes ten nested calls to
-- helpers, a returning guest's nine: measured with callgrind (single-user
-- backends, BENCHMARKS.md), removing them saves 93k instructions of a new
-- guest's 2.85M on PostgreSQL 15 and 51k of 3.18M on 18, 84k of a returning
-- guest's 1.70M on 15 and 49k of 1.89M on 18.
--
-- What still sets search_path = '' (tests/sql_security.test.ts pins the rule):
--   * every entry point: what the edge functions, the rpc() wrappers, the
--     webhooks or an operator call (customers_upsert, authorize, the
--     drift check, ...);
--   * every trigger function, and every function a CHECK or an index names:
--     any writer of the table runs those, with its own search_path;
--   * SQL-standard bodies need none: their names are bound when created.
-- A helper qualifies every name it uses, as before, runs with its caller's
-- rights (none is a security definer) and may be executed by no role but
-- its owner, so it is only ever reached from a function that set the path.

alter function private.actor(jsonb) reset search_path;
alter function private.add_to_profile(uuid, integer[]) reset search_path;
alter function private.apply_booking(
  uuid, uuid, uuid, timestamptz, text, timestamptz, integer, timestamptz, boolean
) reset search_path;
alter function private.apply_upsert_consents(
  jsonb, uuid, uuid, boolean, jsonb, timestamptz, uuid, boolean
) reset search_path;
alter function private.authorize_manager(jsonb, uuid) reset search_path;
alter function private.booking_json(public.customer_bookings) reset search_path;
alter function private.check_booking_change(text, integer) reset search_path;
alter function private.check_phone_region(text, text) reset search_path;
alter function private.consent_json(uuid) reset search_path;
alter function private.consent_state(uuid, text) reset search_path;
alter function private.customer_export_without_consent(jsonb, uuid, uuid) reset search_path;
alter function private.customer_json(uuid) reset search_path;
alter function private.find_customer(uuid, uuid, text, text) reset search_path;
alter function private.live_customer(uuid, uuid) reset search_path;
alter function private.lock_booking(uuid, uuid) reset search_path;
alter function private.lock_contacts(uuid, text, text) reset search_path;
alter function private.lock_guest_contacts(uuid, uuid[]) reset search_path;
alter function private.lock_identity(uuid) reset search_path;
alter function private.lock_live_customer(uuid, uuid) reset search_path;
alter function private.merge_consent(uuid, uuid, uuid, uuid[], text) reset search_path;
alter function private.merged_sources(uuid) reset search_path;
alter function private.note_candidate(uuid, uuid, uuid, text) reset search_path;
alter function private.note_name_duplicates(uuid, uuid) reset search_path;
alter function private.profile_counts(uuid) reset search_path;
alter function private.profile_stored(public.customer_profiles) reset search_path;
alter function private.record_consent(
  uuid, uuid, text, boolean, text, text, text, timestamptz, text
) reset search_path;
alter function private.resolve_customer(uuid, text, text, text, text, text) reset search_path;
alter function private.vault_secret(text) reset search_path;
