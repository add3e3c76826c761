/**
 * The client snippets of README.md, read the way a user copies them: the fenced block
 * after a `<!-- client:NAME -->` marker, parsed as the client would (JSON config, or a
 * `claude mcp add` command line).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface StdioLaunch {
  kind: "stdio";
  command: string;
  args: string[];
  env: Record<string, string>;
}
export interface HttpLaunch {
  kind: "http";
  url: string;
  headers: Record<string, string>;
}
export type Launch = StdioLaunch | HttpLaunch;

/** The code of the fenced block that follows `<!-- client:name -->`. */
export function readmeBlock(root: string, name: string): { lang: string; code: string } {
  const md = readFileSync(join(root, "README.md"), "utf8");
  const m = new RegExp(`<!-- client:${name} -->\\s*\`\`\`(\\w*)\\n([\\s\\S]*?)\\n\`\`\``).exec(md);
  if (!m) throw new Error(`README.md has no block marked <!-- client:${name} -->`);
  return { lang: m[1]!, code: m[2]! };
}

/** A Claude Desktop (`mcpServers`) or VS Code (`servers`) config: the single server in it. */
export function fromJsonConfig(code: string): Launch {
  const cfg = JSON.parse(code) as { mcpServers?: Record<string, unknown>; servers?: Record<string, unknown> };
  const servers = cfg.mcpServers ?? cfg.servers;
  if (!servers) throw new Error("config has neither mcpServers nor servers");
  const [entry] = Object.values(servers) as Array<{ type?: string; command?: string; args?: string[]; env?: Record<string, string>; url?: string; headers?: Record<string, string> }>;
  if (!entry) throw new Error("config lists no server");
  if (entry.type === "http" || entry.url) return { kind: "http", url: entry.url!, headers: entry.headers ?? {} };
  return { kind: "stdio", command: entry.command!, args: entry.args ?? [], env: entry.env ?? {} };
}

/** POSIX-shell words of one command line: quotes, backslash-newline, `$VAR` from `vars`. */
export function shellWords(line: string, vars: Record<string, string> = {}): string[] {
  const src = line.replace(/\\\n\s*/g, " ").trim();
  const words: string[] = [];
  let cur: string | undefined;
  const expand = (s: string) => s.replace(/\$(\w+)|\$\{(\w+)\}/g, (_, a, b) => vars[a ?? b] ?? "");
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      if (cur !== undefined) words.push(cur);
      cur = undefined;
    } else if (c === "'") {
      const end = src.indexOf("'", i + 1);
      cur = (cur ?? "") + src.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      const end = src.indexOf('"', i + 1);
      cur = (cur ?? "") + expand(src.slice(i + 1, end));
      i = end;
    } else if (c === "$") {
      const m = /^\$(\w+)|^\$\{(\w+)\}/.exec(src.slice(i))!;
      cur = (cur ?? "") + expand(m[0]);
      i += m[0].length - 1;
    } else if (c === "#" && cur === undefined) {
      break;
    } else cur = (cur ?? "") + c;
  }
  if (cur !== undefined) words.push(cur);
  return words;
}

/** `claude mcp add [options] <name> <commandOrUrl> [args...]`, as Claude Code reads it. */
export function fromClaudeMcpAdd(code: string, vars: Record<string, string> = {}): Launch {
  const w = shellWords(code, vars);
  if (w[0] !== "claude" || w[1] !== "mcp" || w[2] !== "add") throw new Error(`not a claude mcp add line: ${code}`);
  let transport = "stdio";
  const env: Record<string, string> = {};
  const headers: Record<string, string> = {};
  const positional: string[] = [];
  for (let i = 3; i < w.length; i++) {
    const a = w[i]!;
    if (a === "--") {
      positional.push(...w.slice(i + 1));
      break;
    } else if (a === "--transport" || a === "-t") transport = w[++i]!;
    else if (a === "--env" || a === "-e") {
      const [k, ...v] = w[++i]!.split("=");
      env[k!] = v.join("=");
    } else if (a === "--header" || a === "-H") {
      const h = w[++i]!;
      const colon = h.indexOf(":");
      headers[h.slice(0, colon).trim()] = h.slice(colon + 1).trim();
    } else if (a === "--scope" || a === "-s") i++;
    else positional.push(a);
  }
  const [, target, ...args] = positional; // [name, command or URL, args…]
  if (transport === "http") return { kind: "http", url: target!, headers };
  return { kind: "stdio", command: target!, args, env };
}
