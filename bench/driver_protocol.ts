// What the harness and a side's limit driver (bench/limit_driver.ts) say to
// each other, one JSON object a line.
import type { DriveResult } from "./measure.ts";

export const REPLY = "@@bench ";

export type DriverRequest =
  | { op: "setup"; url: string; max: number; batch: number; requests: unknown[] }
  | { op: "open"; url: string; max: number }
  | {
    op: "drive";
    label: string;
    requests: unknown[];
    concurrency: number;
    silent: boolean;
  }
  | { op: "close" };

export type DriverReply =
  | { ok: true; result?: DriveResult }
  | { ok: false; error: string };
