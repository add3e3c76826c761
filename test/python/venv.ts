/**
 * The tests' Python: test/python/.venv, built by test/python/build.sh (`.ci/run` calls
 * it). A test that needs it fails with the command to run when it is missing.
 */
import { existsSync } from "node:fs";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "../helpers/mcp.js";

export const PY_DIR = join(ROOT, "test", "python");
export const PYTHON = join(PY_DIR, ".venv", "bin", "python");

export function requirePython(): string {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: run test/python/build.sh (needs python3 with venv and PyPI access)`);
  return PYTHON;
}

/** Runs a script of test/python with the venv's Python; resolves with stdout, rejects with stderr on failure. */
export function runPython(script: string, args: string[] = [], input?: string, timeoutMs = 60_000): Promise<string> {
  const py = requirePython();
  return new Promise((resolve, reject) => {
    const p = spawn(py, [join(PY_DIR, script), ...args], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
    p.stdout.on("data", (d) => (out += String(d)));
    p.stderr.on("data", (d) => (err += String(d)));
    p.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${script} exited ${code ?? signal}:\n${err}\n${out}`));
    });
    p.stdin.end(input ?? "");
  });
}
