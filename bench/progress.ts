// A progress line on stderr while a row runs: rewritten in place on a
// terminal, one line per second otherwise.
export interface Progress {
  update(done: number): void;
  finish(): void;
}

export function progress(label: string, total: number): Progress {
  const tty = Deno.stderr.isTerminal();
  const encoder = new TextEncoder();
  const show = (done: number, final: boolean) => {
    const line = `  ${label.padEnd(34)} ${String(done).padStart(6)}/${total}`;
    if (tty) Deno.stderr.writeSync(encoder.encode(`\r${line}${final ? "\n" : ""}`));
    else if (final || done > 0) console.error(line);
  };
  return { update: (done) => show(done, false), finish: () => show(total, true) };
}
