/**
 * Logging: stderr always (stdout belongs to the protocol in stdio mode), one line per
 * record, as text (the message) or JSON (the message and its fields); plus sinks (each MCP session forwards to its client once it
 * set a level). Every text is scrubbed of credentials first (mesh/secrets.ts).
 *
 * A record may concern one MCP session (`fields.session`): its calls, its lifecycle.
 * Such a record reaches only that session's sink; a session id never goes to another
 * client (one that knows another's id can act in that session).
 */
import { addSecret, scrub } from "../mesh/secrets.js";

export type Level = "debug" | "info" | "warning" | "error";
export type LogFormat = "text" | "json";
const ORDER: Record<Level, number> = { debug: 0, info: 1, warning: 2, error: 3 };

/** Structured context of a record; `session` scopes it to one MCP session. */
export interface LogFields {
  session?: string;
  [key: string]: string | number | boolean | undefined;
}

export type LogSink = (level: Level, message: string, fields: LogFields) => void;

export { addSecret, scrub };

/** Whether a sink would forward a record of this level now (lets the logger skip building it). */
export type SinkWants = (level: Level) => boolean;

export class Logger {
  private sinks = new Map<LogSink, SinkWants>();
  constructor(
    private readonly level: Level = "info",
    private readonly stderr = true,
    private readonly format: LogFormat = "text",
  ) {}

  addSink(sink: LogSink, wants: SinkWants = () => true): () => void {
    this.sinks.set(sink, wants);
    return () => this.sinks.delete(sink);
  }

  /** True when a record of `level` would go anywhere: stderr or some sink. */
  wants(level: Level): boolean {
    if (this.enabled(level)) return true;
    for (const wants of this.sinks.values()) if (wants(level)) return true;
    return false;
  }

  /** True when stderr would show `level` (lets hot paths skip building a debug line). */
  enabled(level: Level): boolean {
    return this.stderr && ORDER[level] >= ORDER[this.level];
  }

  log(level: Level, message: string, fields: LogFields = {}): void {
    // Scrubbing costs regex passes: a record nobody reads (a debug line per call) is not built.
    if (!this.wants(level)) return;
    const text = this.local(level, message, fields);
    for (const [s, wants] of this.sinks) if (wants(level)) s(level, text, fields);
  }

  /** stderr only (never to a client); returns the scrubbed one-line text. */
  local(level: Level, message: string, fields: LogFields = {}): string {
    const text = scrub(message.replace(/[\r\n]+/g, " ")); // one line per record
    if (this.enabled(level)) {
      const time = new Date().toISOString();
      const clean: LogFields = {};
      for (const [k, v] of Object.entries(fields)) clean[k] = typeof v === "string" ? scrub(v) : v;
      process.stderr.write(
        this.format === "json"
          ? JSON.stringify({ time, level, msg: text, ...clean }) + "\n"
          : `${time} ${level.toUpperCase().padEnd(7)} ${text}\n`,
      );
    }
    return text;
  }

  debug(m: string, f?: LogFields): void { this.log("debug", m, f); }
  info(m: string, f?: LogFields): void { this.log("info", m, f); }
  warn(m: string, f?: LogFields): void { this.log("warning", m, f); }
  error(m: string, f?: LogFields): void { this.log("error", m, f); }
}
