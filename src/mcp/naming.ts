/**
 * MCP tool names for mesh methods. Claude and OpenAI accept only
 * `^[A-Za-z0-9_-]{1,64}$`, so `<tool>__<method>` is sanitised and shortened with a
 * stable hash suffix. Names map back through this table, never by parsing, and a
 * name never changes while its method exists.
 */
import { createHash } from "node:crypto";

export const MAX_TOOL_NAME = 64;

/** Progressive discovery's meta-tools (discovery.ts): reserved, like the built-ins' names. */
export const DISCOVERY_TOOL_NAMES = { search: "mesh_search_tools", get: "mesh_get_tool", call: "mesh_call_tool" } as const;

function hash8(s: string): string {
  return createHash("sha256").update(s).digest("hex").slice(0, 8);
}

/** The preferred name for a key `tool.method` (before collision handling). */
export function baseName(tool: string, method: string): string {
  const raw = `${tool}__${method}`.replace(/[^A-Za-z0-9_-]/g, "_");
  if (raw.length <= MAX_TOOL_NAME) return raw;
  return `${raw.slice(0, MAX_TOOL_NAME - 9)}_${hash8(`${tool}.${method}`)}`;
}

/** The collision fallback: always unique per key (hash of the exact key). */
function hashedName(tool: string, method: string): string {
  const raw = `${tool}__${method}`.replace(/[^A-Za-z0-9_-]/g, "_");
  return `${raw.slice(0, MAX_TOOL_NAME - 9)}_${hash8(`${tool}.${method}`)}`;
}

export class ToolNameTable {
  private byKey = new Map<string, string>();
  private byName = new Map<string, string>();

  /** Names that must never be handed to mesh methods (the bridge's own tools). */
  constructor(private readonly reserved: ReadonlySet<string> = new Set()) {}

  /**
   * Brings the table in line with the current keys: keeps existing names, frees
   * names of keys that are gone, and names new keys in sorted order (so the
   * outcome of a collision does not depend on discovery order).
   */
  sync(keys: Iterable<{ tool: string; method: string }>): void {
    const want = new Map<string, { tool: string; method: string }>();
    for (const k of keys) want.set(`${k.tool}.${k.method}`, k);
    for (const [key, name] of this.byKey) {
      if (!want.has(key)) {
        this.byKey.delete(key);
        this.byName.delete(name);
      }
    }
    for (const key of [...want.keys()].sort()) {
      if (this.byKey.has(key)) continue;
      const { tool, method } = want.get(key)!;
      let name = baseName(tool, method);
      if (this.taken(name)) name = hashedName(tool, method);
      for (let i = 2; this.taken(name); i++) name = `${hashedName(tool, method).slice(0, MAX_TOOL_NAME - 3)}_${i}`;
      this.byKey.set(key, name);
      this.byName.set(name, key);
    }
  }

  private taken(name: string): boolean {
    return this.byName.has(name) || this.reserved.has(name);
  }

  nameOf(tool: string, method: string): string | undefined {
    return this.byKey.get(`${tool}.${method}`);
  }

  /** `tool.method` key of a name, or undefined for unknown names. */
  keyOf(name: string): string | undefined {
    return this.byName.get(name);
  }
}
