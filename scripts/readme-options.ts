/** Rewrites the README's configuration reference from src/config.ts (`npm run docs`). */
import { readFileSync, writeFileSync } from "node:fs";
import { optionsMarkdown } from "../src/config.js";

export const START = "<!-- options:start -->";
export const END = "<!-- options:end -->";

export function withOptions(readme: string): string {
  const a = readme.indexOf(START);
  const b = readme.indexOf(END);
  if (a < 0 || b < a) throw new Error(`README.md lacks the ${START} … ${END} markers`);
  return `${readme.slice(0, a + START.length)}\n${optionsMarkdown()}\n${readme.slice(b)}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const path = new URL("../README.md", import.meta.url);
  writeFileSync(path, withOptions(readFileSync(path, "utf8")));
  process.stderr.write("README.md options table updated\n");
}
