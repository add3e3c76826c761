/**
 * Request params the SDK 1.x Server cannot parse (a `tools/call` without a name, a
 * `resources/read` without a uri) reach the client as -32603 with a zod dump. The
 * spec's code is -32602 Invalid params, with a message a person can act on.
 */
import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";

interface ZodLikeError {
  name: string;
  issues?: Array<{ path?: PropertyKey[]; message?: string }>;
}

function isZodError(err: unknown): err is ZodLikeError {
  const e = err as Partial<ZodLikeError> | null;
  return typeof e === "object" && e !== null && (e.name === "ZodError" || e.name === "$ZodError") && Array.isArray(e.issues);
}

/** "params.name: Invalid input: expected string, received undefined" for the first problems. */
export function describeIssues(err: ZodLikeError): string {
  const lines = (err.issues ?? []).slice(0, 3).map((i) => {
    const where = (i.path ?? []).map(String).join(".");
    return where ? `${where}: ${i.message ?? "invalid"}` : (i.message ?? "invalid");
  });
  return lines.length ? lines.join("; ") : "the request params do not match the method's schema";
}

/**
 * Wraps every request handler registered so far so that a params parse failure is
 * answered as -32602. Call after the last setRequestHandler. (SDK 1.x keeps its
 * handlers in a private map; v2 answers -32602 itself, so this goes with v1.)
 */
export function answerBadParamsAsInvalidParams(server: Server): void {
  const handlers = (server as unknown as { _requestHandlers?: Map<string, (req: unknown, extra: unknown) => Promise<unknown>> })._requestHandlers;
  if (!(handlers instanceof Map)) return;
  for (const [method, handler] of handlers) {
    handlers.set(method, async (req, extra) => {
      try {
        return await handler(req, extra);
      } catch (err) {
        if (isZodError(err)) throw new McpError(ErrorCode.InvalidParams, `Invalid params for ${method}: ${describeIssues(err)}`);
        throw err;
      }
    });
  }
}
