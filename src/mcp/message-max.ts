/**
 * The largest message mesh-mcp writes on stdio. The official MCP SDK clients (v1
 * `@modelcontextprotocol/sdk` and v2 `@modelcontextprotocol/client`) read stdio into a
 * buffer of at most 10 MiB (STDIO_DEFAULT_MAX_BUFFER_SIZE in shared/stdio) and drop the
 * connection when one line outgrows it; the buffer also holds the pipe chunk that
 * carries the line's end (64 KiB reads), so a line must stay well under. 9 MiB leaves
 * that margin. Over HTTP no such bound applies (--resource-max and --result-max do).
 */
export const STDIO_MESSAGE_MAX = 9 * 1024 * 1024;

/** Bytes of `n` bytes once base64-encoded. */
export const base64Size = (n: number): number => 4 * Math.ceil(n / 3);

export const mib = (n: number): string => `${(n / (1024 * 1024)).toFixed(1)} MiB`;
