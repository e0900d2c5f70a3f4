-- Marketing consent with evidence: per channel (email, sms), an append-only
-- history of grants and withdrawals with their source, the wording shown,
-- the actor and the time. The state of a channel is its latest event (a
-- withdrawal wins a tie). customers.marketing_opt_in and the profile's
-- marketing_opt_in_at / marketing_opt_out_at stay, meaning the email
-- channel, so existing callers keep working.
--
-- Rules:
--   * an upsert never withdraws (an unticked box is not a withdrawal);
--   * an event equal to the state in force (same action, same wording) is
--     not added again, so replays and repeated clicks add nothing;
--   * a grant given before the last withdrawal is kept as history but does
--     not change the state (the withdrawal is later).

create table public.consent_wordings (
  id uuid primary key default gen_random_uuid(),
  restaurant_id uuid not null references public.restaurants (id) on delete cascade,
  channel text not null check (channel in ('email', 'sms')),
  -- What the guest was shown. Not personal: the restaurant's own text.
  wording text not null check (btrim(wording) <> '' and length(wording) <= 2000),
  created_at timestamptz not null default now()
);

-- By digest: a long text in a multibyte script would not fit a btree entry.
create unique index consent_wordings_text_key
  on public.consent_wordings (restaurant_id, channel, md5(wording));

create table public.consent_events (
  id uuid primary key default gen_random_uuid(),
  restaurant_id uuid not null references public.restaurants (id) on delete cascade,
  customer_id uuid not null,
  channel text not null check (channel in ('email', 'sms')),
  action text not null check (action in ('grant', 'withdraw')),
  -- 'erasure': the withdrawal an erased guest's channels get.
  source text not null
    check (source in ('booking', 'staff', 'import', 'unsubscribe_link', 'api', 'erasure')),
  wording_id uuid references public.consent_wordings (id),
  -- 'service', or the staff member's auth user id.
  actor text not null check (actor = 'service' or actor ~ '^[0-9a-f-]{36}$'),
  occurred_at timestamptz not null,
  recorded_at timestamptz not null default now(),
  -- A delivery's own key (a booking's grant: its booking id), so a replay
  -- adds nothing whatever the state.
  idempotency_key text check (length(idempotency_key) <= 200),
  constraint consent_events_customer_fkey foreign key (restaurant_id, customer_id)
    references public.customers (restaurant_id, id) on delete cascade,
  constraint consent_events_key unique (restaurant_id, idempotency_key)
);

create index consent_events_latest_idx
  on public.consent_events (customer_id, channel, occurred_at desc, action desc);

alter table public.consent_wordings enable row level security;
alter table public.consent_events enable row level security;
revoke all on public.consent_wordings, public.consent_events from anon, authenticated;
grant select on public.consent_wordings, public.consent_events to authenticated;
-- Append-only, for the service too.
grant select, insert on public.consent_wordings, public.consent_events to service_role;

create policy consent_wordings_staff_read on public.consent_wordings
  for select to authenticated using ((select private.is_member(restaurant_id)));
create policy consent_events_staff_read on public.consent_events
  for select to authenticated using ((select private.is_member(restaurant_id)));

-- private.forbid_change: the history is append-only: no event is ever
-- changed (API roles cannot delete either; only the owner's cascades, when a
-- restaurant or a guest row itself is deleted, remove events). A guest's
-- erasure keeps it: it holds no personal datum.
create function private.forbid_change()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  raise exception using errcode = 'PT409', message = 'append_only',
    detail = 'Consent history is append-only.';
end
$$;

revoke all on function private.forbid_change() from public;

create trigger consent_events_append_only
  before update on public.consent_events
  for each row execute function private.forbid_change();

-------------------------------------------------------------------------------
-- Upgrade: today's email opt-in and withdrawal become the first events,
-- source 'import' (how they were given was not recorded). The first grant
-- at marketing_opt_in_at; the last withdrawal at marketing_opt_out_at; and a
-- guest opted in again after a withdrawal (marketing_opt_in true, the
-- withdrawal later than the first grant) gets a grant just after it, so the
-- state derived from the events is today's marketing_opt_in.
-------------------------------------------------------------------------------
insert into public.consent_events (restaurant_id, customer_id, channel, action, source, actor, occurred_at)
select c.restaurant_id, c.id, 'email', e.action, 'import', 'service', e.at
from public.customers c
join public.customer_profiles p on p.customer_id = c.id
cross join lateral (values
  ('grant', p.marketing_opt_in_at),
  ('withdraw', p.marketing_opt_out_at),
  ('grant', case when c.marketing_opt_in and p.marketing_opt_out_at >= p.marketing_opt_in_at
    then p.marketing_opt_out_at + interval '1 microsecond' end)
) e(action, at)
where e.at is not null;

-------------------------------------------------------------------------------
-- private.consent_state: a channel's latest event (null when none).
-------------------------------------------------------------------------------
-- plpgsql, not sql: a sql function with a SET clause is planned on every call (before PostgreSQL 18).
create function private.consent_state(p_customer_id uuid, p_channel text)
returns public.consent_events
language plpgsql
stable
set search_path = ''
as $$
declare
  v_latest public.consent_events;
begin
  select e.* into v_latest from public.consent_events e
  where e.customer_id = p_customer_id and e.channel = p_channel
  order by e.occurred_at desc, e.action desc
  limit 1;
  return v_latest;
end
$$;

revoke all on function private.consent_state(uuid, text) from public;

-- private.consent_json: { email: { state, at, source }, sms: … } of a guest.
-- One scan of the guest's events (the latest per channel), on every answer.
-- plpgsql, not sql: its plan is cached per connection instead of made again
-- on every call (it runs on every answer).
create function private.consent_json(p_customer_id uuid)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
begin
  return '{"email": {"state": "none", "at": null, "source": null},
           "sms": {"state": "none", "at": null, "source": null}}'::jsonb
    || coalesce((
      select jsonb_object_agg(l.channel, jsonb_build_object(
        'state', case when l.action = 'grant' then 'granted' else 'withdrawn' end,
        'at', l.occurred_at,
        'source', l.source
      ))
      from (
        select distinct on (e.channel) e.channel, e.action, e.occurred_at, e.source
        from public.consent_events e
        where e.customer_id = p_customer_id
        order by e.channel, e.occurred_at desc, e.action desc
      ) l
    ), '{}');
end
$$;

revoke all on function private.consent_json(uuid) from public;

-------------------------------------------------------------------------------
-- private.record_consent
-- Appends one consent event unless it changes nothing: an event whose
-- idempotency key is known, or one equal to the state in force (same
-- action, same wording). Keeps customers.marketing_opt_in and the
-- profile's email times in step with the email channel's state. The caller
-- holds the customer's row lock. Returns whether an event was added.
-------------------------------------------------------------------------------
create function private.record_consent(
  p_restaurant_id uuid,
  p_customer_id uuid,
  p_channel text,
  p_grant boolean,
  p_source text,
  p_actor text,
  p_wording text default null,
  p_occurred_at timestamptz default null,
  p_idempotency_key text default null
)
returns boolean
language plpgsql
set search_path = ''
as $$
declare
  v_action text := case when p_grant then 'grant' else 'withdraw' end;
  v_wording_id uuid;
  v_current public.consent_events;
  -- Never in the future: a future-dated grant would outlast every withdrawal.
  v_at timestamptz := least(coalesce(p_occurred_at, now()), now());
  v_state public.consent_events;
begin
  if p_channel is null or p_channel not in ('email', 'sms') then
    raise exception using errcode = 'PT400', message = 'invalid_request',
      detail = 'channel must be email or sms.';
  end if;
  if p_idempotency_key is not null and exists (
    select from public.consent_events e
    where e.restaurant_id = p_restaurant_id and e.idempotency_key = p_idempotency_key
  ) then
    return false;
  end if;
  if p_wording is not null then
    insert into public.consent_wordings (restaurant_id, channel, wording)
    values (p_restaurant_id, p_channel, p_wording)
    on conflict (restaurant_id, channel, md5(wording)) do nothing;
    select w.id into v_wording_id from public.consent_wordings w
    where w.restaurant_id = p_restaurant_id and w.channel = p_channel
      and md5(w.wording) = md5(p_wording);
  end if;

  v_current := private.consent_state(p_customer_id, p_channel);
  if v_current.action = v_action and v_current.wording_id is not distinct from v_wording_id
    and v_at >= v_current.occurred_at
  then
    return false;
  end if;

  insert into public.consent_events (
    restaurant_id, customer_id, channel, action, source, wording_id, actor, occurred_at, idempotency_key
  )
  values (
    p_restaurant_id, p_customer_id, p_channel, v_action, p_source, v_wording_id, p_actor, v_at,
    p_idempotency_key
  );

  if p_channel = 'email' then
    v_state := private.consent_state(p_customer_id, 'email');
    update public.customers c
    set marketing_opt_in = v_state.action = 'grant', updated_at = now()
    where c.id = p_customer_id and c.marketing_opt_in is distinct from (v_state.action = 'grant');
    update public.customer_profiles p
    set marketing_opt_in_at = case when v_state.action = 'grant'
          then coalesce(p.marketing_opt_in_at, v_state.occurred_at) else p.marketing_opt_in_at end,
        marketing_opt_out_at = case when v_action = 'withdraw'
          then greatest(p.marketing_opt_out_at, v_at) else p.marketing_opt_out_at end,
        updated_at = now()
    where p.customer_id = p_customer_id;
  end if;
  return true;
end
$$;

revoke all on function private.record_consent(uuid, uuid, text, boolean, text, text, text, timestamptz, text)
  from public;

-- private.actor: who acts, as the history records it.
-- (plpgsql, not sql: a sql function with a SET clause is planned on every call (before PostgreSQL 18).)
create function private.actor(p_claims jsonb)
returns text
language plpgsql
immutable
set search_path = ''
as $$
begin
  return case when p_claims ->> 'role' = 'authenticated' then p_claims ->> 'sub' else 'service' end;
end
$$;

revoke all on function private.actor(jsonb) from public;

-------------------------------------------------------------------------------
-- private.apply_upsert_consents
-- The grants an upsert brings: marketingOptIn (an email grant, source
-- 'booking') and the consent list ([{ channel, granted: true, source?,
-- wording? }]). Only grants: an upsert never withdraws. Grants that come
-- with a booking apply only when the booking is newly recorded and carry
-- its id as their idempotency key; each is dated p_consent_at (when the
-- guest gave it), default now. Returns the number of events added.
-------------------------------------------------------------------------------
create or replace function private.apply_upsert_consents(
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
declare
  v_item jsonb;
  v_added integer := 0;
  v_items jsonb := coalesce(p_consent, '[]'::jsonb);
begin
  if jsonb_typeof(v_items) <> 'array' then
    raise exception using errcode = 'PT400', message = 'invalid_request',
      detail = 'consent must be a list.';
  end if;
  if coalesce(p_marketing_opt_in, false) then
    v_items := v_items || jsonb_build_array(jsonb_build_object('channel', 'email', 'granted', true));
  end if;
  if jsonb_array_length(v_items) = 0 or (p_booking_id is not null and not p_booking_recorded) then
    return 0;
  end if;
  -- The caller (customers_upsert) already holds the customer's row lock,
  -- taken before the booking's in lock order: it orders these grants
  -- against a concurrent withdrawal.
  for v_item in select * from jsonb_array_elements(v_items) loop
    if (v_item ->> 'granted')::boolean is distinct from true then
      raise exception using errcode = 'PT400', message = 'invalid_request',
        detail = 'An upsert only grants consent; withdraw with customer-consent.';
    end if;
    if private.record_consent(
      p_restaurant_id, p_customer_id, v_item ->> 'channel', true,
      coalesce(v_item ->> 'source', 'booking'), private.actor(p_claims), v_item ->> 'wording',
      p_consent_at,
      case when p_booking_id is not null then 'booking:' || p_booking_id || ':' || (v_item ->> 'channel') end
    ) then
      v_added := v_added + 1;
    end if;
  end loop;
  return v_added;
end
$$;

-- The evidence-free grant of the core gives way to events.
drop function private.grant_marketing_opt_in(uuid, timestamptz);

-- private.customer_json(id): the guest, its profile and its consent.
create or replace function private.customer_json(p_customer_id uuid)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
begin
  return (
    select private.customer_json(c, p) || jsonb_build_object('consent', private.consent_json(c.id))
    from public.customers c
    join public.customer_profiles p on p.customer_id = c.id
    where c.id = p_customer_id
  );
end
$$;

-------------------------------------------------------------------------------
-- private.customer_consent
-- Records a grant or a withdrawal for one channel of a guest named by id or
-- by normalized contact (email first), by staff of the restaurant or a
-- service. Returns customer, profile, consent and recorded (false when it
-- changed nothing).
-------------------------------------------------------------------------------
create function private.customer_consent(
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
  -- The row lock orders this against an upsert's grant; an erased guest
  -- (found only by id: it holds no contact) is not found.
  perform from public.customers c where c.id = v_customer_id and c.erased_at is null
  for no key update;
  if not found then
    raise exception using errcode = 'PT404', message = 'customer_not_found',
      detail = 'No customer of this restaurant matches.';
  end if;
  v_recorded := private.record_consent(
    p_restaurant_id, v_customer_id, p_channel, p_granted,
    coalesce(p_source, case when p_claims ->> 'role' = 'authenticated' then 'staff' else 'api' end),
    private.actor(p_claims), p_wording
  );
  return private.customer_json(v_customer_id) || jsonb_build_object('recorded', v_recorded);
end
$$;

revoke all on function private.customer_consent(jsonb, uuid, text, boolean, uuid, text, text, text, text, text)
  from public;

-------------------------------------------------------------------------------
-- private.consent_unsubscribe
-- The one-click unsubscribe: a withdrawal with source 'unsubscribe_link'.
-- No claims: the edge function calls it only after verifying the link's
-- HMAC, which names the restaurant, the guest and the channel. Repeated
-- clicks add nothing. An erased guest is PT404 customer_not_found.
-------------------------------------------------------------------------------
create function private.consent_unsubscribe(p_restaurant_id uuid, p_customer_id uuid, p_channel text)
returns jsonb
language plpgsql
set search_path = ''
set lock_timeout = '5s'
as $$
declare
  v_recorded boolean;
begin
  perform from public.customers c
  where c.id = p_customer_id and c.restaurant_id = p_restaurant_id and c.erased_at is null
  for no key update;
  if not found then
    raise exception using errcode = 'PT404', message = 'customer_not_found',
      detail = 'No customer of this restaurant matches.';
  end if;
  v_recorded := private.record_consent(
    p_restaurant_id, p_customer_id, p_channel, false, 'unsubscribe_link', 'service'
  );
  return jsonb_build_object(
    'consent', private.consent_json(p_customer_id), 'recorded', v_recorded
  );
end
$$;

revoke all on function private.consent_unsubscribe(uuid, uuid, text) from public;

-- private.set_marketing_consent: the email channel through customer_consent.
create or replace function private.set_marketing_consent(
  p_claims jsonb,
  p_restaurant_id uuid,
  p_customer_id uuid,
  p_opt_in boolean
)
returns jsonb
language sql
set search_path = ''
set lock_timeout = '5s'
as $$
  select private.customer_consent(
    p_claims => p_claims,
    p_restaurant_id => p_restaurant_id,
    p_channel => 'email',
    p_granted => p_opt_in,
    p_customer_id => p_customer_id,
    p_source => 'staff'
  ) - 'recorded'
$$;

-------------------------------------------------------------------------------
-- private.marketable_customers: the guests a restaurant may market to on a
-- channel now (latest event a grant), with that channel's contact. A
-- marketing export built from it never includes a withdrawn guest.
-------------------------------------------------------------------------------
create function private.marketable_customers(p_claims jsonb, p_restaurant_id uuid, p_channel text)
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
    where c.restaurant_id = p_restaurant_id and c.erased_at is null and s.action = 'grant'
      and (case when p_channel = 'email' then c.email_normalized else c.phone_normalized end) is not null
    order by c.id;
end
$$;

revoke all on function private.marketable_customers(jsonb, uuid, text) from public;

create function public.marketable_customers(restaurant_id uuid, channel text)
returns table (customer_id uuid, name text, contact text, granted_at timestamptz)
language sql
stable
security definer
set search_path = ''
as $$
  select * from private.marketable_customers(
    coalesce((select auth.jwt()), '{}'::jsonb), restaurant_id, channel
  )
$$;

revoke all on function public.marketable_customers(uuid, text) from public, anon;
grant execute on function public.marketable_customers(uuid, text) to authenticated, service_role;

create function public.customer_consent(
  restaurant_id uuid,
  channel text,
  granted boolean,
  customer_id uuid default null,
  email text default null,
  phone text default null,
  source text default null,
  wording text default null
)
returns jsonb
language sql
security definer
set search_path = ''
as $$
  select private.customer_consent(
    p_claims => coalesce((select auth.jwt()), '{}'::jsonb),
    p_restaurant_id => restaurant_id,
    p_channel => channel,
    p_granted => granted,
    p_customer_id => customer_id,
    p_email_normalized => email,
    p_phone_normalized => phone,
    p_source => source,
    p_wording => wording
  )
$$;

revoke all on function public.customer_consent(uuid, text, boolean, uuid, text, text, text, text) from public, anon;
grant execute on function public.customer_consent(uuid, text, boolean, uuid, text, text, text, text)
  to authenticated, service_role;

-------------------------------------------------------------------------------
-- private.customer_export gains the guest's consent history (the document
-- already carries the state per channel, through customer_json).
-------------------------------------------------------------------------------
alter function private.customer_export(jsonb, uuid, uuid) rename to customer_export_without_consent;

create function private.customer_export(p_claims jsonb, p_restaurant_id uuid, p_customer_id uuid)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select private.customer_export_without_consent(p_claims, p_restaurant_id, p_customer_id)
    || jsonb_build_object('consentEvents', coalesce((
      select jsonb_agg(jsonb_build_object(
        'channel', e.channel,
        'action', e.action,
        'source', e.source,
        'wording', w.wording,
        'actor', e.actor,
        'occurredAt', e.occurred_at,
        'recordedAt', e.recorded_at
      ) order by e.occurred_at, e.recorded_at)
      from public.consent_events e
      left join public.consent_wordings w on w.id = e.wording_id
      where e.customer_id = p_customer_id
    ), '[]'))
$$;

revoke all on function private.customer_export(jsonb, uuid, uuid) from public;

-------------------------------------------------------------------------------
-- An erased guest's channels are withdrawn (source 'erasure'), so the
-- tombstone's consent state agrees with its cleared opt-in and no marketing
-- list can name it.
-------------------------------------------------------------------------------
create function private.withdraw_erased()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_channel text;
begin
  foreach v_channel in array array['email', 'sms'] loop
    if (private.consent_state(new.id, v_channel)).action = 'grant' then
      insert into public.consent_events (restaurant_id, customer_id, channel, action, source, actor, occurred_at)
      values (new.restaurant_id, new.id, v_channel, 'withdraw', 'erasure', 'service', now());
    end if;
  end loop;
  return null;
end
$$;

revoke all on function private.withdraw_erased() from public;

create trigger withdraw_erased
  after update of erased_at on public.customers
  for each row
  when (old.erased_at is null and new.erased_at is not null)
  execute function private.withdraw_erased();
