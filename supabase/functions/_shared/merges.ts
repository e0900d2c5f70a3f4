// Duplicate guests: candidate pairs, merge and unmerge, each one SQL call.
// A merge or unmerge that found a guest's contacts changing under it (an
// upsert adding one at that moment) is refused by SQL with 40001 rather
// than risk waiting in the wrong lock order; it is simply run again.
import { type Claims, sqlClaims } from "./auth.ts";
import { callFunction, type Db, errorCode, orNull } from "./db.ts";
import type { DuplicatesResult, MergeResult, UnmergeResult } from "./responses.ts";
import type { DuplicatesRequest, MergeRequest, UnmergeRequest } from "./schemas.ts";

export type { DuplicatesResult, MergeResult, UnmergeResult } from "./responses.ts";

const RETRIES = 4;

/** Run a call again when SQL says it raced a contact being added (40001). */
async function retried<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 0;; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (errorCode(error) !== "40001" || attempt >= RETRIES) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * (attempt + 1)));
    }
  }
}

/** A page of candidate pairs, or the dismissal of one pair. */
export async function duplicates(
  db: Db,
  claims: Claims,
  req: DuplicatesRequest,
): Promise<DuplicatesResult> {
  return await callFunction(db, "customer_duplicates", {
    p_claims: sqlClaims(claims),
    p_restaurant_id: req.restaurantId,
    p_limit: orNull(req.limit),
    p_cursor: orNull(req.cursor),
    p_dismiss: orNull(req.dismiss),
  }) as unknown as DuplicatesResult;
}

/** Merge 1 to 3 sources into the target (one transaction). */
export async function mergeCustomers(
  db: Db,
  claims: Claims,
  req: MergeRequest,
): Promise<MergeResult> {
  return await retried(() =>
    callFunction(db, "customers_merge", {
      p_claims: sqlClaims(claims),
      p_restaurant_id: req.restaurantId,
      p_target_id: req.targetId,
      p_source_ids: req.sourceIds,
    })
  ) as unknown as MergeResult;
}

/** Undo a merge. */
export async function unmergeCustomers(
  db: Db,
  claims: Claims,
  req: UnmergeRequest,
): Promise<UnmergeResult> {
  return await retried(() =>
    callFunction(db, "customers_unmerge", {
      p_claims: sqlClaims(claims),
      p_restaurant_id: req.restaurantId,
      p_merge_id: req.mergeId,
    })
  ) as unknown as UnmergeResult;
}
