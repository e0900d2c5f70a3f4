// Which plans the SQL functions' statements get: each call runs through the
// product's own code on a connection with auto_explain loaded (nested
// statements, every duration, plans sent to the client as notices), and
// every scan node is collected. A sequential scan of a table that grows
// with the guest list is a hot-path statement whose cost grows with it.
import type { Claims } from "../supabase/functions/_shared/auth.ts";
import { createDb, type Db } from "../supabase/functions/_shared/db.ts";

/** Tables whose size grows with guests and bookings. */
export const GROWING = [
  "customers",
  "customer_profiles",
  "customer_bookings",
  "bookings",
  "consent_events",
  "customer_erasures",
  "customer_contacts",
  "customer_duplicates",
];
// Not here: customer_merges and customer_merge_items grow with merges (one
// guest in a thousand in the scale fill), and every statement on them is
// keyed by a merge id or a target; on a test's handful of merges a scan is
// the planner's right choice, not a defect.

export interface PlanReport {
  op: string;
  /** Distinct scan nodes, e.g. "Index Scan using customers_pkey on customers". */
  scans: string[];
  /** Sequential scans of GROWING tables. */
  seqScans: string[];
  /** The call's error, when it failed (its plans up to then are still reported). */
  error: string | null;
}

const SCAN =
  /(Seq Scan|Index Only Scan|Index Scan|Bitmap Heap Scan|Bitmap Index Scan|Tid Scan)(?: Backward)?(?: using (\S+))? on (\S+)/g;

export interface PlannedCall {
  op: string;
  run(db: Db, claims: Claims): Promise<unknown>;
}

/** Run each call once with auto_explain and report its statements' scans. */
export async function explainCalls(url: string, calls: PlannedCall[]): Promise<PlanReport[]> {
  const db = createDb(url, { max: 1 });
  let notices: string[] = [];
  db.pool.on("connect", (client) => client.on("notice", (n) => notices.push(n.message ?? "")));
  const reports: PlanReport[] = [];
  try {
    for (
      const setting of [
        "load 'auto_explain'",
        "set auto_explain.log_min_duration = 0",
        "set auto_explain.log_nested_statements = on",
        "set auto_explain.log_level = notice",
        "set auto_explain.log_format = text",
        "set client_min_messages = notice",
      ]
    ) await db.pool.query(setting);
    for (const call of calls) {
      notices = [];
      let error: string | null = null;
      try {
        await call.run(db, { role: "service_role" } as Claims);
      } catch (e) {
        error = e instanceof Error ? e.message : String(e);
      }
      const scans = new Set<string>();
      for (const text of notices) {
        for (const m of text.matchAll(SCAN)) {
          scans.add(`${m[1]}${m[2] ? ` using ${m[2]}` : ""} on ${m[3]}`);
        }
      }
      const all = [...scans].sort();
      reports.push({
        op: call.op,
        scans: all,
        seqScans: all.filter((s) =>
          s.startsWith("Seq Scan") && GROWING.includes(s.split(" on ")[1])
        ),
        error,
      });
    }
  } finally {
    await db.end();
  }
  return reports;
}

export interface BufferUse {
  op: string;
  calls: number;
  /** Per call, averaged: shared buffers found, read from outside (OS cache or disk), dirtied, written. */
  hit: number;
  read: number;
  dirtied: number;
  written: number;
  /** The first failed call's error, if any. */
  error: string | null;
}

const BUFFERS = /Buffers: shared((?: \w+=\d+)+)/;

/**
 * Shared-buffer use per call: each call once with auto_explain's analyze and
 * buffers on (top-level statements only: the call's figures include every
 * statement of the functions it runs), averaged over the calls.
 */
export async function bufferUse(url: string, op: string, calls: PlannedCall[]): Promise<BufferUse> {
  const db = createDb(url, { max: 1 });
  let notices: string[] = [];
  db.pool.on("connect", (client) => client.on("notice", (n) => notices.push(n.message ?? "")));
  const total = { hit: 0, read: 0, dirtied: 0, written: 0 };
  let counted = 0;
  let error: string | null = null;
  try {
    for (
      const setting of [
        "load 'auto_explain'",
        "set auto_explain.log_min_duration = 0",
        "set auto_explain.log_nested_statements = off",
        "set auto_explain.log_analyze = on",
        "set auto_explain.log_buffers = on",
        "set auto_explain.log_timing = off",
        "set auto_explain.log_level = notice",
        "set auto_explain.log_format = text",
        "set client_min_messages = notice",
      ]
    ) await db.pool.query(setting);
    for (const call of calls) {
      notices = [];
      try {
        await call.run(db, { role: "service_role" } as Claims);
      } catch (e) {
        error ??= e instanceof Error ? e.message : String(e);
        continue;
      }
      const plan = notices.find((n) => /Query Text: select private\./.test(n));
      if (!plan) error ??= `no plan among ${notices.length} notices: ${notices[0]?.slice(0, 300)}`;
      const figures = plan ? BUFFERS.exec(plan)?.[1] : undefined;
      if (!figures) continue;
      for (const [, key, value] of figures.matchAll(/ (\w+)=(\d+)/g)) {
        if (key in total) total[key as keyof typeof total] += Number(value);
      }
      counted++;
    }
  } finally {
    await db.end();
  }
  const per = (n: number) => (counted ? n / counted : NaN);
  return {
    op,
    calls: counted,
    hit: per(total.hit),
    read: per(total.read),
    dirtied: per(total.dirtied),
    written: per(total.written),
    error,
  };
}
