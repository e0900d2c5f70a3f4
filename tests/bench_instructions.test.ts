// The statements `npm run bench:instructions` counts (bench/instruction_workloads.ts)
// run as written against the current schema and do what they name: a
// changed upsert signature fails here, not two minutes into a valgrind run.
import { calls, type InstructionWorkload, prepare } from "../bench/instruction_workloads.ts";
import { type Client, withClient } from "../bench/pg.ts";
import { assert, assertEquals } from "./assert.ts";
import { DB_URL } from "./helpers.ts";

interface Recorded {
  guests: number;
  /** The emails of the guests the bookings went to, in call order. */
  bookedBy: string[];
}

const EXPECTED: Record<InstructionWorkload, Recorded> = {
  "new": { guests: 3, bookedBy: ["g1@example.com", "g2@example.com", "g3@example.com"] },
  // Call n books returning guest n % 100 + 1.
  "returning": { guests: 100, bookedBy: ["r2@example.com", "r3@example.com", "r4@example.com"] },
  "new-no-booking": { guests: 3, bookedBy: [] },
  "returning-no-booking": { guests: 100, bookedBy: [] },
  "new-opt-in": { guests: 3, bookedBy: ["g1@example.com", "g2@example.com", "g3@example.com"] },
};

async function recorded(client: Client, restaurantId: string): Promise<Recorded> {
  const { rows } = await client.query<Recorded>(
    `select
       (select count(*) from public.customers c where c.restaurant_id = $1)::integer as guests,
       coalesce((select array_agg(c.email_normalized order by b.recorded_at, b.booking_id)
                 from public.customer_bookings b
                 join public.customers c on c.id = b.customer_id
                 where b.restaurant_id = $1), '{}') as "bookedBy"`,
    [restaurantId],
  );
  return rows[0];
}

for (const [workload, expected] of Object.entries(EXPECTED)) {
  Deno.test(`bench:instructions' ${workload} calls run as written and record what they name`, async () => {
    await withClient(DB_URL, async (client) => {
      const { rows } = await client.query<{ id: string }>(
        "insert into public.restaurants (name, phone_region) values ('Bench Bistro', 'GB') returning id",
      );
      const restaurantId = rows[0].id;
      await prepare(client, restaurantId, workload as InstructionWorkload);
      for (const line of await calls(client, restaurantId, workload as InstructionWorkload, 3)) {
        // A single-user backend ends a statement at a newline.
        assert(!line.includes("\n"), `one line: ${line}`);
        await client.query(line);
      }
      assertEquals(await recorded(client, restaurantId), expected);
    });
  });
}
