// Instantiates the check (it imports nothing) and calls `run`; a failed
// assertion or a clock read traps, and node exits non-zero.
import { readFileSync } from "node:fs";

const { instance } = await WebAssembly.instantiate(readFileSync(process.argv[2]), {});
const polls = instance.exports.run();
if (polls < 10n) {
  throw new Error(`expected at least 10 polls, got ${polls}`);
}
console.log(`wasm32-unknown-unknown: the fork ran, ${polls} polls counted`);
