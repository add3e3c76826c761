/**
 * The config file (`--config FILE`, env MESH_MCP_CONFIG): YAML or JSON (JSON is YAML).
 * Top-level keys are the option names as flags spell them (kebab-case: `call-timeout`),
 * typed as OPTIONS says; `policy` (src/mcp/policy.ts) lives only here. Every error
 * names the file and the line. Precedence (config.ts): flags > env > file > defaults.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { Document } from "yaml";
import { PolicySchema, type Policy } from "./mcp/policy.js";
import type { OptionSpec } from "./config.js";

/** Keys that are not settings, so not allowed in the file. */
const NOT_IN_FILE = new Set(["config", "help", "version"]);

export class ConfigFileError extends Error {
  override name = "ConfigFileError";
}

export interface ConfigFile {
  path: string;
  /** Option values by flag name, typed per OPTIONS (numbers as numbers, lists as string arrays). */
  values: Map<string, string | number | boolean | string[]>;
  /** Line of each option's value (for errors found later, in the merged config). */
  lines: Map<string, number>;
  policy?: Policy;
}

const camel = (k: string) => k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Reads and validates the file; throws ConfigFileError naming file and line. */
export function loadConfigFile(path: string, options: readonly OptionSpec[]): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigFileError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message}. Check --config / MESH_MCP_CONFIG.`);
  }
  return parseConfigText(text, path, options);
}

/**
 * The YAML library, loaded only when a config file is read: it costs ~100 ms to load,
 * which a stdio client would otherwise wait for on every start.
 */
let yamlLib: typeof import("yaml") | undefined;
const yaml = () => (yamlLib ??= createRequire(import.meta.url)("yaml") as typeof import("yaml"));

export function parseConfigText(text: string, path: string, options: readonly OptionSpec[]): ConfigFile {
  const { isMap, LineCounter, parseDocument } = yaml();
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number | undefined) => `${path}:${offset === undefined ? 1 : lineCounter.linePos(offset).line}`;
  const fail = (offset: number | undefined, message: string): never => {
    throw new ConfigFileError(`${at(offset)}: ${message}`);
  };
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    fail(e.pos[0], `not valid YAML/JSON: ${e.message.split("\n")[0]}`);
  }
  const out: ConfigFile = { path, values: new Map(), lines: new Map() };
  if (doc.contents === null) return out; // an empty file sets nothing
  if (!isMap(doc.contents)) fail(doc.contents.range?.[0], "the config file must be a mapping of option names to values (e.g. `nats: nats://host:4222`)");
  const byFlag = new Map(options.map((o) => [o.flag, o]));
  for (const pair of (doc.contents as { items: Array<{ key: unknown; value: unknown }> }).items) {
    const keyNode = pair.key as { value?: unknown; range?: [number, number, number] } | null;
    const valueNode = pair.value as { range?: [number, number, number]; toJSON?: () => unknown } | null;
    const key = String(keyNode?.value ?? "");
    const keyAt = keyNode?.range?.[0];
    const value = valueNode && typeof (valueNode as { toJSON?: unknown }).toJSON === "function" ? (valueNode as { toJSON(): unknown }).toJSON() : (valueNode as { value?: unknown } | null)?.value ?? null;
    const valueAt = valueNode?.range?.[0] ?? keyAt;
    if (key === "policy") {
      out.policy = policyOf(doc, value, at, keyAt);
      continue;
    }
    const spec = byFlag.get(key);
    if (!spec || NOT_IN_FILE.has(key)) {
      const hint = NOT_IN_FILE.has(key) ? ` — "${key}" is a command-line flag only` : byFlag.has(kebab(key)) ? ` — write it as "${kebab(key)}" (option names in the file are spelled like the flags)` : "; see docs/config.md for the keys";
      fail(keyAt, `unknown key "${key}"${hint}`);
    }
    out.values.set(key, typed(spec!, value, (m) => fail(valueAt, `${key}: ${m}`)));
    out.lines.set(camel(key), lineCounter.linePos(valueAt ?? 0).line);
  }
  return out;
}

function typed(spec: OptionSpec, v: unknown, fail: (m: string) => never): string | number | boolean | string[] {
  switch (spec.kind) {
    case "boolean":
      if (typeof v !== "boolean") fail(`expected true or false, got ${JSON.stringify(v)}`);
      return v as boolean;
    case "number": {
      const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
      if (typeof n !== "number" || !Number.isFinite(n)) fail(`expected a number${spec.arg ? ` (${spec.arg})` : ""}, got ${JSON.stringify(v)}`);
      return n as number;
    }
    case "list": {
      const list = Array.isArray(v) ? v : [v];
      if (!list.every((x) => typeof x === "string" || typeof x === "number")) fail(`expected a list of strings, got ${JSON.stringify(v)}`);
      return list.map(String);
    }
    default:
      if (typeof v !== "string" && typeof v !== "number") fail(`expected a string${spec.arg ? ` (${spec.arg})` : ""}, got ${JSON.stringify(v)}`);
      return String(v);
  }
}

function policyOf(doc: Document, value: unknown, at: (offset: number | undefined) => string, keyAt: number | undefined): Policy {
  const r = PolicySchema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const unknown = issue.code === "unrecognized_keys" ? (issue as { keys: string[] }).keys[0] : undefined;
  const path = ["policy", ...issue.path.map((p) => (typeof p === "symbol" ? String(p) : p)), ...(unknown !== undefined ? [unknown] : [])];
  // The deepest node that exists on the issue's path (a missing key: its parent).
  let offset = keyAt;
  for (let i = path.length; i > 0; i--) {
    const node = (i === path.length && unknown !== undefined ? keyNodeOf(doc, path) : doc.getIn(path.slice(0, i), true)) as { range?: [number, number, number] } | undefined;
    if (node?.range) {
      offset = node.range[0];
      break;
    }
  }
  const where = path.join(".");
  const message = unknown !== undefined ? `unknown key "${unknown}"; see docs/identity.md for the policy keys` : issue.message;
  throw new ConfigFileError(`${at(offset)}: ${where}: ${message}`);
}

/** The key node of the last step of `path` (its line is where the key is written). */
function keyNodeOf(doc: Document, path: (string | number)[]): unknown {
  const parent = doc.getIn(path.slice(0, -1), true);
  if (!yaml().isMap(parent)) return undefined;
  const last = path[path.length - 1];
  return parent.items.find((p) => (p.key as { value?: unknown } | null)?.value === last)?.key;
}
