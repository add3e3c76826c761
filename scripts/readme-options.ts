/** Rewrites the README's configuration reference and docs/config.md from src/config.ts (`npm run docs`). */
import { readFileSync, writeFileSync } from "node:fs";
import { configFileMarkdown, optionsMarkdown } from "../src/config.js";

export const START = "<!-- options:start -->";
export const END = "<!-- options:end -->";
export const CONFIG_START = "<!-- config-keys:start -->";
export const CONFIG_END = "<!-- config-keys:end -->";

function between(text: string, start: string, end: string, body: string, name: string): string {
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`${name} lacks the ${start} … ${end} markers`);
  return `${text.slice(0, a + start.length)}\n${body}\n${text.slice(b)}`;
}

export function withOptions(readme: string): string {
  return between(readme, START, END, optionsMarkdown(), "README.md");
}

export function withConfigReference(page: string): string {
  return between(page, CONFIG_START, CONFIG_END, configFileMarkdown(), "docs/config.md");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const path = new URL("../README.md", import.meta.url);
  writeFileSync(path, withOptions(readFileSync(path, "utf8")));
  const config = new URL("../docs/config.md", import.meta.url);
  writeFileSync(config, withConfigReference(readFileSync(config, "utf8")));
  process.stderr.write("README.md options table and docs/config.md updated\n");
}
