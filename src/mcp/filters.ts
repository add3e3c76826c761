/**
 * --include / --exclude: which mesh methods an agent sees. A pattern (`*` and `?`
 * globs) matches a method by its key `tool.method` or by its MCP tool name
 * `tool__method` (what every client shows, so what an operator copies into
 * `--exclude files__delete`). A pattern that matches nothing in the catalog hides or
 * admits nothing, which an operator must hear about: `unmatched` says so, with a hint.
 */
import { baseName } from "./naming.js";

/** Compiles `*`/`?` globs to one RegExp. */
export function globToRegExp(glob: string): RegExp {
  const re = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${re}$`);
}

interface Pattern {
  glob: string;
  re: RegExp;
}

interface Method {
  tool: string;
  method: string;
}

const compile = (globs: readonly string[] | undefined): Pattern[] => (globs ?? []).map((glob) => ({ glob, re: globToRegExp(glob) }));

function matches(p: Pattern, m: Method): boolean {
  return p.re.test(`${m.tool}.${m.method}`) || p.re.test(baseName(m.tool, m.method));
}

export class MethodFilter {
  private readonly include: Pattern[];
  private readonly exclude: Pattern[];

  constructor(include?: readonly string[], exclude?: readonly string[]) {
    this.include = compile(include);
    this.exclude = compile(exclude);
  }

  visible(m: Method): boolean {
    if (this.include.length && !this.include.some((p) => matches(p, m))) return false;
    return !this.exclude.some((p) => matches(p, m));
  }

  /** One warning per pattern that matches no method of `catalog`, saying what that means and what may have been meant. */
  unmatched(catalog: readonly Method[]): string[] {
    const out: string[] = [];
    const tools = new Set(catalog.map((m) => m.tool));
    const anyInclude = this.include.some((p) => catalog.some((m) => matches(p, m)));
    for (const [flag, patterns] of [["include", this.include], ["exclude", this.exclude]] as const) {
      for (const p of patterns) {
        if (catalog.some((m) => matches(p, m))) continue;
        const effect = flag === "exclude" ? "it hides nothing" : anyInclude ? "it admits nothing" : "no --include matches, so no mesh method is exposed";
        out.push(`--${flag} "${p.glob}" matches no method of the mesh (${catalog.length} methods): ${effect}. ` +
          `Patterns match <tool>.<method> or the MCP tool name <tool>__<method>, with * and ? globs${hint(p.glob, tools)}.`);
      }
    }
    return out;
  }
}

/** What the operator may have meant: a bare tool name means every method of it. */
function hint(glob: string, tools: ReadonlySet<string>): string {
  if (!glob.includes(".") && !glob.includes("__") && !/[*?]$/.test(glob)) {
    return `; did you mean "${glob}.*" (every method of tool ${glob}${tools.has(glob) ? "" : ", when it is in the mesh"})?`;
  }
  const lower = glob.toLowerCase();
  const near = [...tools].find((t) => lower.startsWith(`${t.toLowerCase()}.`) || lower.startsWith(`${t.toLowerCase()}__`));
  return near ? `; tool ${near} has other methods (mesh-mcp tools lists them)` : "";
}
