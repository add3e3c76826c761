/** The Node.js line mesh-mcp supports (package.json engines) and what to say on an older one. */
export const MIN_NODE_MAJOR = 22;

/** A one-line warning when `version` (process.versions.node) is older than supported; undefined otherwise. */
export function nodeVersionWarning(version: string): string | undefined {
  const major = Number(version.split(".")[0]);
  if (!Number.isFinite(major) || major >= MIN_NODE_MAJOR) return undefined;
  return `Node.js ${version} is older than mesh-mcp supports (${MIN_NODE_MAJOR} or later; Node ${major} is past its end of life): it may run, but it is not tested. Install Node ${MIN_NODE_MAJOR} or later.`;
}
