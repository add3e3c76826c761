/**
 * Which local files an agent may hand to the mesh: only files under the client's
 * MCP roots or the --allow-dir folders. Symlinks are resolved first, so a link
 * inside an allowed folder cannot point outside it.
 */
import { realpath } from "node:fs/promises";
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

/**
 * Resolves `path` (symlinks included) and checks it lies inside one of `allowed`.
 * Returns the real path, or throws PathNotAllowedError / the fs error (ENOENT).
 */
export async function checkAllowedPath(path: string, allowed: readonly string[]): Promise<string> {
  if (allowed.length === 0) {
    throw new PathNotAllowedError(
      `reading local files is not allowed: the client shares no MCP roots and mesh-mcp has no --allow-dir. ` +
        `Start mesh-mcp with --allow-dir <folder> or let the client share a root.`,
    );
  }
  if (!isAbsolute(path)) throw new PathNotAllowedError(`"${path}" is not an absolute path; give the full path of the file`);
  const real = await realpath(resolve(path));
  const dirs = await Promise.all(allowed.map((d) => realpath(resolve(d)).catch(() => resolve(d))));
  if (!dirs.some((d) => isInside(real, d))) {
    throw new PathNotAllowedError(`"${path}" is outside the allowed folders (${dirs.join(", ")}); move the file there or allow its folder with --allow-dir`);
  }
  return real;
}
