// Benchmark plumbing, from the project's tooling library: start a Deno
// server process on a free port and time its first answer, sign its tokens.
export { freePort } from "../scripts/lib/net.ts";
export { signHs256 } from "../scripts/lib/jwt.ts";
export { spawnServer, type StartedServer as SpawnedServer } from "../scripts/lib/server.ts";
