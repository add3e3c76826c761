/**
 * Secrets never leave the process in text: every credential mesh-mcp is given (NATS
 * token, password, nkey seed, WebSocket bearer token, the HTTP bearer token) is
 * registered here, and every text that leaves (log lines, tool errors, doctor output)
 * goes through `scrub`, which also masks the user-info part of any URL. No imports:
 * the MCP layer loads it before NATS.
 */
const secrets = new Set<string>();
/** Shorter values would mask ordinary words; they are only kept out by not being printed. */
const MIN_LENGTH = 4;
const MASK = "***";
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"'<>]*@/gi;

/** Registers a credential (and its URL-encoded form) to be masked wherever it would be printed. */
export function addSecret(value: string | undefined | null): void {
  if (!value || value.length < MIN_LENGTH) return;
  secrets.add(value);
  const encoded = encodeURIComponent(value);
  if (encoded !== value) secrets.add(encoded);
}

/** `text` with every registered secret and every URL's user:password@ masked. */
export function scrub(text: string): string {
  let out = text.replace(URL_USERINFO, `$1${MASK}@`);
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join(MASK);
  return out;
}

/** Registered secrets (tests). */
export function secretCount(): number {
  return secrets.size;
}
