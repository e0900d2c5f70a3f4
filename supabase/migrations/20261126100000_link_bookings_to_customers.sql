-- Link the host application's booking to its customer. When a booking is
-- recorded in the ledger (by the customers-upsert webhook, an API call or an
-- rpc), the bookings row with that id, if the host has one, gets its
-- customer_id, unless the host already set one. Same transaction as the
-- upsert; a status-preserving update, so the cancellation webhook does not
-- fire.

-- private.link_booking_to_customer: AFTER INSERT trigger on the ledger.
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
