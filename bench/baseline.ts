// A baseline git ref, checked out into a temporary directory (git archive:
// nothing is registered in the repository), with its template database
// built from its own migrations by the Supabase CLI, as `npm run bench`
// builds the working tree's. Removed afterwards.
import type { BenchConfig } from "./config.ts";
import type { Databases } from "./databases.ts";
import { withClient } from "./pg.ts";
import type { Side } from "./sides.ts";

export interface Baseline {
  side: Side;
  remove(): Promise<void>;
}

async function git(root: string, args: string[]): Promise<string> {
  const out = await new Deno.Command("git", { args, cwd: root, stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
  return new TextDecoder().decode(out.stdout).trim();
}

/** Unpack `ref`'s tree into `dir` (git archive | tar -x). */
async function unpack(root: string, ref: string, dir: string): Promise<void> {
  const archive = new Deno.Command("git", {
    args: ["archive", "--format=tar", ref],
    cwd: root,
    stdout: "piped",
  }).spawn();
  const tar = new Deno.Command("tar", { args: ["-x", "-C", dir], stdin: "piped" }).spawn();
  await archive.stdout.pipeTo(tar.stdin);
  const [a, t] = await Promise.all([archive.status, tar.status]);
  if (!a.success || !t.success) throw new Error(`could not unpack ${ref} into ${dir}`);
}

/** Bootstrap (what Supabase provides) and the tree's own migrations, as its tooling does. */
export async function migrate(root: string, dir: string, url: string): Promise<void> {
  const bootstrap = `${dir}supabase/local/bootstrap.sql`;
  const text = await Deno.readTextFile(bootstrap).catch(() => null);
  if (text !== null) await withClient(url, (c) => c.query(text));
  const out = await new Deno.Command(`${root}node_modules/.bin/supabase`, {
    args: ["db", "push", "--db-url", url, "--yes"],
    cwd: dir,
    env: { PGSSLMODE: "disable" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    throw new Error(
      `supabase db push (${dir}) failed:\n${decode(out.stdout)}${decode(out.stderr)}`,
    );
  }
}

/** The short hash of the commit `ref` names. */
export function resolveCommit(config: Pick<BenchConfig, "root">, ref: string): Promise<string> {
  return git(config.root, ["rev-parse", "--short=7", `${ref}^{commit}`]);
}

export async function prepareBaseline(
  config: Pick<BenchConfig, "root">,
  databases: Databases,
  ref: string,
): Promise<Baseline> {
  const commit = await resolveCommit(config, ref);
  const dir = `${await Deno.makeTempDir({ prefix: `bench-baseline-${commit}-` })}/`;
  const template = `bench_baseline_${commit}_${Deno.pid}`;
  let created = false;
  const remove = async () => {
    try {
      if (created) await databases.drop(template);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  };
  try {
    await unpack(config.root, commit, dir);
    // Its dependencies are the same npm packages; Deno's own cache serves its import map.
    await Deno.symlink(await Deno.realPath(`${config.root}node_modules`), `${dir}node_modules`);
    const url = await databases.create(template);
    created = true;
    await migrate(config.root, dir, url);
  } catch (error) {
    await remove().catch(() => {});
    throw error;
  }
  return {
    side: {
      name: "baseline",
      label: `@${commit}`,
      root: dir,
      template,
      paths: ["limit", "functions"],
    },
    remove,
  };
}
