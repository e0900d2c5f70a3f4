// One single-user PostgreSQL backend under valgrind's callgrind: it reads a
// script of statements on stdin, each its own transaction, and we keep the
// total count of instructions it executed. Deterministic to a few parts in a
// thousand, where throughput on this shared machine moves by ±20 %.
import { serverPrograms } from "../scripts/lib/postgres.ts";

/** True when valgrind can be run. */
export async function hasValgrind(): Promise<boolean> {
  try {
    return (await new Deno.Command("valgrind", { args: ["--version"], stdout: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

/**
 * Run `lines` (one statement per line) in a single-user backend of `build`
 * (undefined: the embedded one) on `dataDir`'s database `database`, the
 * cluster being stopped, and return the instructions the backend executed
 * from start to exit. `keepAs`: where to copy callgrind's profile (for
 * callgrind_annotate), else it is deleted with the run.
 */
export async function countInstructions(
  build: string | undefined,
  dataDir: string,
  database: string,
  lines: string[],
  keepAs?: string,
): Promise<number> {
  const { bin, user } = serverPrograms(build);
  // The backend runs as the cluster's owner: its output file lives where that user can write.
  const dir = await Deno.makeTempDir({ prefix: "bench-callgrind-" });
  if (user) await Deno.chown(dir, user.uid, user.gid);
  const out = `${dir}/callgrind.out`;
  try {
    const child = new Deno.Command("valgrind", {
      args: [
        "--tool=callgrind",
        `--callgrind-out-file=${out}`,
        `${bin}/postgres`,
        "--single",
        "-D",
        dataDir,
        // As the bench's other rows keep commits cheap to wait for, so that
        // nothing but the statements' own work is counted.
        "-c",
        "synchronous_commit=off",
        "-c",
        "autovacuum=off",
        database,
      ],
      cwd: "/",
      env: { LC_ALL: "C", LC_MESSAGES: "C" },
      uid: user?.uid,
      gid: user?.gid,
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    // Read while we write: a backend that reports many errors would otherwise
    // fill its stderr pipe and stop reading the script.
    const stderr = new Response(child.stderr).text();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(lines.join("\n") + "\n"));
    await writer.close();
    const [{ success }, log] = await Promise.all([child.status, stderr]);
    // A single-user backend reports a failed statement and goes on: any ERROR voids the count.
    const error = log.split("\n").find((line) => /\bERROR:/.test(line));
    if (!success || error) {
      throw new Error(`single-user backend failed: ${error ?? log.slice(-500)}`);
    }
    const summary = (await Deno.readTextFile(out)).match(/^summary: (\d+)$/m);
    if (!summary) throw new Error(`no instruction total in ${out}`);
    if (keepAs) await Deno.copyFile(out, keepAs);
    return Number(summary[1]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
