// Structured logs: one JSON object per line. Only identifiers, statuses,
// codes and timings are logged; request bodies, contacts and database error
// texts (which can quote a contact) never are.

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export function log(level: "info" | "warn" | "error", msg: string, fields: LogFields = {}): void {
  const line = JSON.stringify({ level, ts: new Date().toISOString(), msg, ...fields });
  if (level === "info") console.log(line);
  else console.error(line);
}
