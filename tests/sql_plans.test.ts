// No sequential scan on a hot path: on a database filled like the scale
// benchmark's (generated SQL, then ANALYZE, so the planner has realistic
// statistics), every operation of bench/scale_ops.ts runs once through the
// product's own code with auto_explain, and no statement of any SQL
// function it calls may scan a table that grows with the guests
// sequentially. `npm run bench:scale` reports the same at 10⁶ guests.
import { explainCalls, type PlannedCall } from "../bench/plans.ts";
import { withClient } from "../bench/pg.ts";
import { fillGuests, fillRestaurantIds, fillRestaurants } from "../bench/scale_fill.ts";
import { functionExists, SCALE_OPS } from "../bench/scale_ops.ts";
import { assert, assertEquals } from "./assert.ts";
import { withMigratedDatabase } from "./helpers.ts";

const RESTAURANTS = 40;
const GUESTS = 8_000;

Deno.test("no sequential scan of a growing table on any hot path (auto_explain, realistic statistics)", async () => {
  await withMigratedDatabase(async (url) => {
    const planned: PlannedCall[] = [];
    const skipped: string[] = [];
    await withClient(url, async (c) => {
      await fillRestaurants(c, RESTAURANTS);
      await fillGuests(c, 0, GUESTS, { restaurants: RESTAURANTS, vacuum: false });
      const restaurants = await fillRestaurantIds(c, RESTAURANTS);
      for (const [k, op] of SCALE_OPS.entries()) {
        if (!(await functionExists(c, op.requires))) {
          skipped.push(op.name);
          continue;
        }
        const [body] = await op.draw(c, {
          guests: GUESTS,
          n: 20,
          seed: 77 + k,
          restaurants,
          tag: "plans",
        });
        assert(body, `a request for ${op.name}`);
        planned.push({ op: op.name, run: (db, claims) => op.call(db, claims, body) });
      }
    });
    // The detector's own control: a statement that can only scan sequentially.
    const [control, ...reports] = await explainCalls(url, [
      {
        op: "control",
        run: (db) =>
          db.pool.query("select count(*) from public.customer_bookings where covers + 0 = 3"),
      },
      ...planned,
    ]);
    assertEquals(control.seqScans, ["Seq Scan on customer_bookings"]);
    assertEquals(reports.map((r) => [r.op, r.error]), planned.map((p) => [p.op, null]));
    for (const report of reports) {
      assert(report.scans.length > 0, `${report.op}: auto_explain reported its statements`);
    }
    assertEquals(
      reports.filter((r) => r.seqScans.length > 0).map((r) => `${r.op}: ${r.seqScans.join(", ")}`),
      [],
    );
    if (skipped.length) console.log(`not in this database yet: ${skipped.join(", ")}`);
  });
});
