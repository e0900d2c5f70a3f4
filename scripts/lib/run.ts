// Running one step of a script: a command whose output is echoed (and
// kept, for the caller to read a summary from) under a heading.
import { spawn } from "node:child_process";
import process from "node:process";
import { ROOT } from "./paths.ts";

export interface StepResult {
  code: number;
  out: string;
}

/** Run `command`, echoing its stdout under "== label"; stderr passes through. */
export function runStep(
  label: string,
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<StepResult> {
  return new Promise((resolve) => {
    process.stdout.write(`\n== ${label}\n`);
    const child = spawn(command, args, {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      process.stdout.write(chunk);
    });
    child.on("error", (error) => resolve({ code: 127, out: String(error) }));
    child.on("exit", (code) => resolve({ code: code ?? 1, out }));
  });
}
