// `npm run test:repeat -- N`: is `npm test` green every time on a fresh
// clone? Clones the current commit (HEAD; uncommitted changes are not part
// of it) into a new temporary folder, runs `npm install` there, then the
// README's test command `npm test` N times, one after the other, and prints
// each run's result and the count. Exits non-zero unless all N passed.
// The environment passes through, so TEST_DB_PORT, FAULT_DB_PORT and
// SUPABASE_DB_URL apply to every run. --keep leaves the clone in place.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import process from "node:process";
import { main, UserError } from "./lib/main.ts";
import { ROOT } from "./lib/paths.ts";
import { sharedDataDir } from "./lib/postgres.ts";

const args = Deno.args.filter((a) => a !== "--keep");
const keep = Deno.args.includes("--keep");
const runs = Number(args[0] ?? 10);

/** Run a command in `cwd`, its output to `log` (and a copy to ours when `echo`). */
function sh(command: string, cwd: string, log: string): Promise<number> {
  return new Promise((resolve) => {
    writeFileSync(log, "");
    const child = spawn("sh", ["-c", `${command} >>"${log}" 2>&1`], {
      cwd,
      env: process.env,
      stdio: "ignore",
    });
    child.on("exit", (code) => resolve(code ?? 1));
  });
}

/** The line `npm test` ends with, or what failed before it. */
function summary(log: string): string {
  const text = Deno.readTextFileSync(log);
  return /^tests: \d+ passed, \d+ failed$/m.exec(text)?.[0] ?? "no summary line";
}

await main(async () => {
  if (!Number.isInteger(runs) || runs < 1) {
    throw new UserError("Usage: npm run test:repeat -- N   (N runs of npm test, N >= 1)");
  }
  const head = spawnSync("git", ["rev-parse", "HEAD"], { cwd: ROOT, encoding: "utf8" });
  if (head.status !== 0) throw new UserError("test:repeat needs a git checkout with a commit.");
  const commit = head.stdout.trim();
  const dir = mkdtempSync(path.join(tmpdir(), "customers-repeat-"));
  const clone = path.join(dir, "clone");
  console.log(`clone of ${commit.slice(0, 12)} in ${clone}`);
  try {
    const cloned = spawnSync("git", ["clone", "--quiet", "--no-checkout", ROOT, clone]);
    const checkout = spawnSync("git", ["-C", clone, "checkout", "--quiet", "--detach", commit]);
    if (cloned.status !== 0 || checkout.status !== 0) {
      throw new Error(`git clone failed: ${cloned.stderr}${checkout.stderr}`);
    }
    const installLog = path.join(dir, "npm-install.log");
    if ((await sh("npm install --no-audit --no-fund", clone, installLog)) !== 0) {
      console.log(Deno.readTextFileSync(installLog));
      throw new Error("npm install failed in the clone");
    }
    console.log("npm install: done");
    let passed = 0;
    for (let i = 1; i <= runs; i++) {
      const log = path.join(dir, `npm-test-${i}.log`);
      const started = performance.now();
      const code = await sh("npm test", clone, log);
      const seconds = ((performance.now() - started) / 1000).toFixed(0);
      if (code === 0) passed++;
      console.log(
        `run ${i}/${runs}: ${code === 0 ? "passed" : `FAILED (exit ${code})`}, ${summary(log)}, ` +
          `${seconds} s${code === 0 ? "" : `; log: ${log}`}`,
      );
    }
    console.log(`\ntest:repeat: ${passed}/${runs} runs of npm test passed`);
    console.log(`${passed} passed, ${runs - passed} failed`);
    return passed === runs ? 0 : 1;
  } finally {
    // A failed run's log is worth keeping: the clone goes, the logs stay.
    if (!keep) {
      rmSync(clone, { recursive: true, force: true });
      rmSync(sharedDataDir(clone), { recursive: true, force: true });
    }
  }
});
