// The design note's sequential approach (../shared/seed/customers-module.md),
// kept ONLY as the benchmark's baseline: upsert on a composite key that does
// not exist (42P10), fallback upserts per key, fetch on unique violation, a
// separate opt-in update, and a read-then-write profile update. Same driver,
// same normalization and the same tables as the real path, so the difference
// measured is the round trips and the locking. Never used by the functions.
import type { Claims } from "../supabase/functions/_shared/auth.ts";
import type postgres from "postgres";

type Sql = postgres.Sql;
import { normalizeEmail, normalizePhone } from "../supabase/functions/_shared/normalize.ts";
import type { UpsertRequest } from "../supabase/functions/_shared/schemas.ts";

type Row = Record<string, unknown> & { id: string; marketing_opt_in: boolean };

function code(error: unknown): string | undefined {
  return (error as { code?: string })?.code;
}

export async function seedDesignUpsert(
  sql: Sql,
  _claims: Claims,
  req: UpsertRequest,
  region: string,
): Promise<unknown> {
  const email = req.email ? normalizeEmail(req.email) : null;
  const phone = req.phone ? normalizePhone(req.phone, region) : null;
  const emailN = email?.ok ? email.value.normalized : null;
  const phoneN = phone?.ok ? phone.value.e164 : null;
  const payload = {
    restaurant_id: req.restaurantId,
    full_name: req.name ?? null,
    email: email?.ok ? email.value.display : null,
    email_normalized: emailN,
    phone: phone?.ok ? phone.value.display : null,
    phone_normalized: phoneN,
    marketing_opt_in: req.marketingOptIn,
  };

  let customer: Row | undefined;
  // 1. The primary conflict target: a composite key that the schema lacks.
  try {
    [customer] = await sql<Row[]>`
      insert into public.customers ${sql(payload)}
      on conflict (restaurant_id, email_normalized, phone_normalized)
      do update set full_name = coalesce(customers.full_name, excluded.full_name)
      returning *`;
  } catch (error) {
    if (code(error) !== "42P10") throw error;
  }
  // 2. Fallback keys, one round trip each; a unique violation on the other
  //    key means "fetch the existing record". The keys are unique among guests
  //    not merged away (partial indexes since the merge feature): the
  //    conflict target names that predicate, or Postgres finds no index to
  //    infer (42P10) and every request fails.
  if (!customer) {
    for (const key of emailN ? ["email_normalized", "phone_normalized"] : ["phone_normalized"]) {
      try {
        [customer] = await sql<Row[]>`
          insert into public.customers ${sql(payload)}
          on conflict (restaurant_id, ${sql(key)}) where merged_into is null
          do update set full_name = coalesce(customers.full_name, excluded.full_name)
          returning *`;
        break;
      } catch (error) {
        if (code(error) !== "23505") throw error;
        [customer] = await sql<Row[]>`
          select * from public.customers
          where restaurant_id = ${req.restaurantId}
            and (email_normalized = ${emailN} or phone_normalized = ${phoneN})
          limit 1`;
        if (customer) break;
      }
    }
  }
  if (!customer) throw new Error("seed design: no customer");
  // 3. Sticky opt-in as a separate update.
  if (req.marketingOptIn && !customer.marketing_opt_in) {
    [customer] = await sql<Row[]>`
      update public.customers set marketing_opt_in = true,
        full_name = coalesce(full_name, ${req.name ?? null})
      where id = ${customer.id} returning *`;
  }
  // 4. recordBookingForCustomerProfile: read, then write computed totals.
  if (req.booking) {
    const [profile] = await sql<
      { total_bookings: number; total_covers: number }[]
    >`select total_bookings, total_covers from public.customer_profiles where customer_id = ${customer.id}`;
    if (!profile) {
      await sql`
        insert into public.customer_profiles (customer_id, restaurant_id, total_bookings, total_covers,
          first_booking_at, last_booking_at)
        values (${customer.id}, ${req.restaurantId}, 1, ${req.booking.covers},
          ${req.booking.startsAt ?? null}, ${req.booking.startsAt ?? null})
        on conflict (customer_id) do nothing`;
    } else {
      await sql`
        update public.customer_profiles
        set total_bookings = ${profile.total_bookings + 1},
            total_covers = ${profile.total_covers + req.booking.covers},
            last_booking_at = ${req.booking.startsAt ?? null}
        where customer_id = ${customer.id}`;
    }
  }
  return { customer };
}
