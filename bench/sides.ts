// The code under test: the working tree ("current") and, beside it, a git
// ref checked out elsewhere ("baseline"). Each side runs from its own tree
// with its own deno.json (import map, lock), its own migrations and its own
// functions, so the harness depends on none of its internals.
import type { BenchConfig } from "./config.ts";
import type { PathName, SideName } from "./types.ts";

export interface Side {
  name: SideName;
  /** How the side's rows are named: "" for the working tree, "@<commit>" for a baseline. */
  label: string;
  /** The tree's root directory, ending in "/". */
  root: string;
  /** Its migrated template database. */
  template: string;
  /** The paths it runs: the seed design exists only in the working tree. */
  paths: PathName[];
}

export function currentSide(config: BenchConfig): Side {
  return {
    name: "current",
    label: "",
    root: config.root,
    template: config.template,
    paths: ["limit", "functions", "seed"],
  };
}

/** `deno run` arguments that make a script resolve imports as the side does. */
export function denoConfigArgs(side: Side): string[] {
  return ["--config", `${side.root}deno.json`];
}

/** A row's path name with its side, e.g. "functions @bc253a1". */
export function rowName(side: { label: string }, path: PathName): string {
  return side.label ? `${path} ${side.label}` : path;
}
