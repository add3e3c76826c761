/**
 * Which local files an agent may hand to the mesh: only regular files under the
 * client's MCP roots or the --allow-dir folders.
 *
 * Checking a path and then opening it by name is a race: a symlink swapped between
 * the two makes the check pass for one file and the read happen on another. So the
 * file is opened once, and what was opened is checked: the handle must be a regular
 * file (a FIFO would block the read forever, a device never ends) and the handle's
 * own path (Linux: /proc/self/fd/N; elsewhere the dev/ino of the handle against the
 * resolved path) must lie under an allowed folder. The caller reads only from that
 * handle. O_NONBLOCK keeps the open itself from blocking on a FIFO; O_NOCTTY keeps a
 * terminal from becoming ours.
 */
import { constants, type Stats } from "node:fs";
import { open, readlink, realpath, stat, type FileHandle } from "node:fs/promises";
import { isAbsolute, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** `file://` root URIs → paths; other schemes are ignored. */
export function rootsToDirs(uris: readonly string[]): string[] {
  const out: string[] = [];
  for (const u of uris) {
    if (!u.startsWith("file://")) continue;
    try {
      out.push(fileURLToPath(u));
    } catch {
      /* not a valid file URL: ignore */
    }
  }
  return out;
}

/** True when `child` is `parent` or inside it (both absolute, normalised). */
export function isInside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
}

export class PathNotAllowedError extends Error {
  override name = "PathNotAllowedError";
}

const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0);

/** A file opened for upload: read only through `handle`, then close it. */
export interface AllowedFile {
  handle: FileHandle;
  /** The real path of what was opened. */
  path: string;
  size: number;
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return "a folder";
  if (st.isFIFO()) return "a FIFO (named pipe)";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  return "not a regular file";
}

async function realDirs(allowed: readonly string[]): Promise<string[]> {
  return Promise.all(allowed.map((d) => realpath(resolve(d)).catch(() => resolve(d))));
}

function outside(path: string, dirs: string[]): PathNotAllowedError {
  return new PathNotAllowedError(`"${path}" is outside the allowed folders (${dirs.join(", ")}); move the file there or allow its folder with --allow-dir`);
}

/** The real path of what `handle` is, or undefined when it cannot be shown to be `expected`. */
async function openedPath(handle: FileHandle, st: Stats, path: string): Promise<string | undefined> {
  try {
    return (await readlink(`/proc/self/fd/${handle.fd}`)).replace(/ \(deleted\)$/, "");
  } catch {
    // No /proc (macOS, BSD): resolve the name now and require it to be the very file we hold.
    const real = await realpath(path).catch(() => undefined);
    if (!real) return undefined;
    const now = await stat(real).catch(() => undefined);
    return now && now.dev === st.dev && now.ino === st.ino ? real : undefined;
  }
}

/**
 * Opens `path` for reading if it is a regular file under one of `allowed`. Throws
 * PathNotAllowedError (outside, not absolute, not a regular file) or the fs error
 * (ENOENT, EACCES). Never blocks on FIFOs or devices.
 */
export async function openAllowedFile(path: string, allowed: readonly string[]): Promise<AllowedFile> {
  if (allowed.length === 0) {
    throw new PathNotAllowedError(
      `reading local files is not allowed: the client shares no MCP roots and mesh-mcp has no --allow-dir. ` +
        `Start mesh-mcp with --allow-dir <folder> or let the client share a root.`,
    );
  }
  if (!isAbsolute(path)) throw new PathNotAllowedError(`"${path}" is not an absolute path; give the full path of the file`);
  const dirs = await realDirs(allowed);
  // Plainly outside: refuse without opening anything there.
  const before = await realpath(path);
  if (!dirs.some((d) => isInside(before, d))) throw outside(path, dirs);

  const handle = await open(path, OPEN_FLAGS);
  try {
    const st = await handle.stat();
    if (!st.isFile()) {
      throw new PathNotAllowedError(`"${path}" is ${kindOf(st)}, not a regular file; only regular files can be uploaded`);
    }
    const real = await openedPath(handle, st, path);
    if (real === undefined || !dirs.some((d) => isInside(real, d))) throw outside(path, dirs);
    return { handle, path: real, size: st.size };
  } catch (err) {
    await handle.close().catch(() => {});
    throw err;
  }
}
