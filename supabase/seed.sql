-- Demo data for local development: one restaurant in London and one staff
-- member. Idempotent, so `npm start` can load it on every start.
insert into public.restaurants (id, name, phone_region)
values ('00000000-0000-4000-8000-000000000001', 'Demo Bistro', 'GB')
on conflict (id) do nothing;

-- The staff member's auth user id: sign a JWT with sub = this id and
-- role = authenticated to act as staff (npm start prints one).
insert into public.restaurant_memberships (restaurant_id, user_id, role)
values ('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-0000000000aa', 'owner')
on conflict do nothing;
