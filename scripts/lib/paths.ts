// Where things are: the project root, and the binaries `npm install` put in
// node_modules (Deno itself, the Supabase CLI, PostgreSQL).
import path from "node:path";

export const ROOT = path.resolve(import.meta.dirname!, "../..");
/** node_modules/.bin: the npm-installed deno and supabase. */
export const BIN = path.join(ROOT, "node_modules", ".bin");
export const DENO = path.join(BIN, "deno");
export const SUPABASE = path.join(BIN, "supabase");
