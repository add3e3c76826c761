/**
 * Logging: stderr always (stdout belongs to the protocol in stdio mode), plus any
 * number of sinks (each MCP session forwards to its client once it set a level).
 */
export type Level = "debug" | "info" | "warning" | "error";
const ORDER: Record<Level, number> = { debug: 0, info: 1, warning: 2, error: 3 };

export type LogSink = (level: Level, message: string) => void;

export class Logger {
  private sinks = new Set<LogSink>();
  constructor(private readonly level: Level = "info", private readonly stderr = true) {}

  addSink(sink: LogSink): () => void {
    this.sinks.add(sink);
    return () => this.sinks.delete(sink);
  }

  log(level: Level, message: string): void {
    this.local(level, message);
    for (const s of this.sinks) s(level, message);
  }

  /** stderr only: for what one session must not see of another (the call log). */
  local(level: Level, message: string): void {
    if (this.stderr && ORDER[level] >= ORDER[this.level]) {
      process.stderr.write(`${new Date().toISOString()} ${level.toUpperCase().padEnd(7)} ${message}\n`);
    }
  }

  debug(m: string): void { this.log("debug", m); }
  info(m: string): void { this.log("info", m); }
  warn(m: string): void { this.log("warning", m); }
  error(m: string): void { this.log("error", m); }
}
