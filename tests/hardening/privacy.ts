// Privacy in logs: every line is structured JSON with known fields only;
// every request line has a request id, the function, the status and the
// duration; no raw email or phone number appears anywhere.
import type { Summary } from "./common.ts";

const ALLOWED = new Set([
  "level",
  "ts",
  "msg",
  "requestId",
  "fn",
  "method",
  "status",
  "durationMs",
  "role",
  "code",
  "error",
  "sqlstate",
  "constraint",
  "dropped",
  "url",
  "functions",
]);
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/;
// Seven or more digits in a row, possibly with phone punctuation: a phone
// number. Checked on values other than the timestamp and the request id.
const PHONE = /\+?\d[\d ().-]{5,}\d/;

export function checkLogs(lines: string[], contacts: Iterable<string>): Summary {
  const failures: string[] = [];
  const needles = [...new Set(contacts)].filter((c) => c.length >= 6);
  let requests = 0;
  for (const line of lines) {
    if (line.trim() === "") continue;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line);
    } catch {
      failures.push(`not JSON: ${line.slice(0, 80)}`);
      continue;
    }
    for (const key of Object.keys(entry)) {
      if (!ALLOWED.has(key)) failures.push(`unexpected log field ${key}`);
    }
    if (entry.msg === "request") {
      requests++;
      if (
        typeof entry.requestId !== "string" || typeof entry.fn !== "string" ||
        typeof entry.status !== "number" || typeof entry.durationMs !== "number"
      ) {
        failures.push(`request line without id/fn/status/duration: ${line.slice(0, 120)}`);
      }
    }
    const { ts: _ts, requestId: _id, url: _url, ...rest } = entry;
    const text = JSON.stringify(rest);
    if (EMAIL.test(text) || PHONE.test(text)) {
      failures.push(`contact-like text in: ${line.slice(0, 160)}`);
    }
    for (const needle of needles) {
      if (line.includes(needle)) {
        failures.push(`raw contact in log: ${line.slice(0, 120)}`);
        break;
      }
    }
    if (failures.length > 50) break;
  }
  return {
    suite: "privacy",
    tried: `log lines (${requests} request lines) checked against ${needles.length} contacts`,
    count: lines.length,
    failures,
  };
}

/** Every contact stored in the database, in the forms a log could leak them. */
export async function contactsIn(
  sql: (strings: TemplateStringsArray) => Promise<Array<Record<string, string | null>>>,
): Promise<string[]> {
  const rows =
    await sql`select email, email_normalized, phone, phone_normalized from public.customers`;
  return rows.flatMap((r) => [
    r.email,
    r.email_normalized,
    r.phone,
    r.phone_normalized,
    r.phone_normalized?.slice(1),
    r.phone_normalized?.slice(-9),
  ]).filter((v): v is string => typeof v === "string");
}
