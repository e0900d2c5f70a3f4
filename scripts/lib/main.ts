// How every script ends: its exit code, or one clear sentence for an error
// the user can act on (no stack trace), or the full error for anything else.

/** An error whose message alone tells the user what to do. */
export class UserError extends Error {
  override name = "UserError";
}

export async function main(fn: () => Promise<number | void>): Promise<never> {
  try {
    Deno.exit((await fn()) ?? 0);
  } catch (error) {
    console.error(error instanceof UserError ? error.message : error);
    Deno.exit(1);
  }
}
