/** Result shapes of the benchmark sections and their Markdown rendering (stdout and BENCHMARKS.md). */

export interface Table {
  title: string;
  columns: string[];
  rows: string[][];
}

export interface TargetCheck {
  /** Short name, e.g. "stdio p50 / raw". */
  name: string;
  /** The target as written in the issue, e.g. "≤ 1.3×". */
  target: string;
  /** The measured figure, formatted. */
  figure: string;
  /** true met, false missed, null not measured (skipped). */
  met: boolean | null;
}

export interface SectionResult {
  id: string;
  title: string;
  tables: Table[];
  targets: TargetCheck[];
  /** Caveats and skips, printed under the section. */
  notes: string[];
  /** Raw figures for results.json. */
  data: Record<string, unknown>;
  elapsedMs?: number;
}

function cell(s: string): string {
  return s.replace(/\|/g, "\\|");
}

export function markdownTable(t: Table): string {
  const head = `| ${t.columns.map(cell).join(" | ")} |`;
  const sep = `| ${t.columns.map((_, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`;
  const body = t.rows.map((r) => `| ${r.map(cell).join(" | ")} |`);
  return [head, sep, ...body].join("\n");
}

export function renderSection(s: SectionResult): string {
  const out = [`### ${s.title}`, ""];
  for (const t of s.tables) {
    if (t.title) out.push(`**${t.title}**`, "");
    out.push(markdownTable(t), "");
  }
  for (const n of s.notes) out.push(`- ${n}`);
  if (s.notes.length) out.push("");
  return out.join("\n");
}

export function targetsTable(sections: SectionResult[]): Table {
  const rows: string[][] = [];
  for (const s of sections) {
    for (const t of s.targets) {
      const verdict = t.met === null ? "not measured" : t.met ? "met" : "**missed**";
      rows.push([t.name, t.target, t.figure, verdict]);
    }
  }
  return { title: "Targets", columns: ["Target", "Goal", "Measured", "Verdict"], rows };
}

export function renderReport(sections: SectionResult[], header: string): string {
  const parts = [header, "", "### Targets", "", markdownTable(targetsTable(sections)), ""];
  for (const s of sections) parts.push(renderSection(s));
  return parts.join("\n");
}
