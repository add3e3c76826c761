/** Pure helpers around call parameters: the CLI's key=value pairs and file-store keys. */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { extname, join } from "node:path";
import type { FileStore } from "./files.js";
import type { JsonObject } from "./types.js";

/**
 * Parses repeated `key=value` inputs into a multi-value map, like the Go CLI: split
 * at the first `=`, key trimmed and non-empty, else `expected key=value, got "<arg>"`.
 */
export function parseKeyValuePairs(pairs: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const pair of pairs) {
    const i = pair.indexOf("=");
    const key = (i < 0 ? pair : pair.slice(0, i)).trim();
    if (i < 0 || key === "") throw new Error(`expected key=value, got ${JSON.stringify(pair)}`);
    out.set(key, [...(out.get(key) ?? []), pair.slice(i + 1)]);
  }
  return out;
}

/** Param names whose string values may be file-store keys (PROTOCOL.md, "File store"). */
export const FILE_PARAM_NAMES: ReadonlySet<string> = new Set([
  "audio", "image", "file", "input_file", "video", "document", "attachment",
  "photo", "path", "filepath", "file_path", "input_path", "input", "source",
]);

/** True when `name: value` is a file-store key by the contract's rules. */
export function isFileKeyParam(name: string, value: unknown): value is string {
  if (typeof value !== "string" || value === "") return false;
  if (!FILE_PARAM_NAMES.has(name.toLowerCase())) return false;
  if (/^(\/|~\/|\.\/|https?:\/\/)/.test(value)) return false;
  return value.includes("/");
}

/**
 * Replaces file-store keys in known file params with paths of temp files holding
 * their content (what a serving node does before running a tool). A key that is
 * not in the store is left as it is, with a warning. Returns the cleanup function.
 */
export async function resolveFileParams(
  params: JsonObject,
  store: FileStore,
  warn: (message: string) => void = () => {},
): Promise<() => Promise<void>> {
  const dirs: string[] = [];
  for (const [name, value] of Object.entries(params)) {
    if (!isFileKeyParam(name, value)) continue;
    let got;
    try {
      got = await store.getBytes(value);
    } catch (err) {
      warn(`file resolve: key ${JSON.stringify(value)} not found: ${(err as Error).message}`);
      continue;
    }
    let ext = extname(value);
    if (!ext) {
      const ct = got.info.contentType;
      ext = ct.includes("ogg") ? ".ogg" : ct.includes("wav") ? ".wav" : ct.includes("mp3") ? ".mp3" : ".bin";
    }
    const dir = await mkdtemp(join(tmpdir(), "mesh-file-"));
    dirs.push(dir);
    const path = join(dir, `input${ext}`);
    await writeFile(path, got.data);
    params[name] = path;
  }
  return async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  };
}
