// Ports: a free one for a throwaway server, and a clear refusal when one
// the user chose is taken.
import { UserError } from "./main.ts";

/** A port the kernel says is free now (another process may still take it). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** True when something already listens on (or holds) 127.0.0.1:`port`. */
export function portTaken(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return false;
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) return true;
    throw error;
  }
}

/** A port setting that cannot be used, said in one sentence a user can act on. */
export class PortTakenError extends UserError {
  constructor(readonly port: number, readonly variable: string, what: string, command: string) {
    super(
      `Port ${port} (${variable}, ${what}) is already in use: stop what listens there, ` +
        `or move it, e.g. \`${variable}=${port + 1000} ${command}\`.`,
    );
  }
}

/** Throws PortTakenError when `port` (the value of `variable`, used by `command`) is taken. */
export function assertPortFree(
  port: number,
  variable: string,
  what: string,
  command: string,
): void {
  if (portTaken(port)) throw new PortTakenError(port, variable, what, command);
}
