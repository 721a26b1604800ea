// Starts a real `palisade serve` for a test: its own data folder, a port the
// system picks (read back from its start-up line), the repository's rules and
// model. PALISADE_BIN names the binary (default target/debug/palisade).
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, createWriteStream, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const BIN = process.env.PALISADE_BIN ?? join(REPO, "target/debug/palisade");
export const KEY = "node-client-test-key-0123456789";

/** Builds a small breach corpus from plain passwords; returns the index path. */
export function pwnedIndex(passwords) {
  const dir = mkdtempSync(join(tmpdir(), "palisade-pwned-"));
  const list = join(dir, "passwords.txt");
  writeFileSync(list, passwords.join("\n") + "\n");
  const idx = join(dir, "pwned.idx");
  execFileSync(BIN, ["pwned", "build", "--input", list, "--output", idx, "--format", "passwords"], { stdio: "pipe" });
  return idx;
}

/**
 * Starts the server; resolves to { url, key, dataDir, stop(), log() }.
 * `dataDir` reuses a folder (a restart); `listen` a fixed address.
 */
export async function startServer({ dataDir, listen = "127.0.0.1:0", args = [] } = {}) {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), "palisade-node-"));
  const logPath = join(dir, `serve-${Date.now()}.log`);
  const log = createWriteStream(logPath);
  const child = spawn(BIN, ["serve", "--listen", listen, "--api-keys", KEY, "--data-dir", join(dir, "data"), ...args], {
    cwd: REPO,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  const url = await new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`palisade serve did not start in 20 s:\n${stderr}`)), 20_000);
    child.stderr.on("data", (b) => {
      log.write(b);
      stderr += b.toString();
      // Up to the `;` after it: stderr comes in chunks, and one that ended
      // inside the port number ("http://127.0.0.1:41") was taken for the
      // whole address (the cause of the small-batches test's rare 403s,
      // from whatever answered on that other port).
      const m = /listening on (http:\/\/[^;\s]+)[;\s]/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]);
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`palisade serve exited ${code} before listening:\n${stderr}`));
    });
  });
  const stop = () =>
    new Promise((done) => {
      if (child.exitCode !== null) return done(child.exitCode);
      child.on("exit", (code) => done(code));
      child.kill("SIGTERM");
    });
  return { url, key: KEY, dataDir: dir, child, stop, log: () => readFileSync(logPath, "utf8") };
}
