/**
 * One error class per condition, each with a message that says what to do next.
 * `cause` carries the underlying NATS error where there is one.
 */

export class MeshError extends Error {
  override name = "MeshError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Nothing answered on the subject: no node offers the tool (or the node is gone). */
export class NoRespondersError extends MeshError {
  override name = "NoRespondersError";
  constructor(readonly subject: string, options?: { cause?: unknown }) {
    super(
      `no node answers on ${subject}: no node in the mesh offers this tool right now ` +
        `(check that the node is running and connected to the same NATS server/account)`,
      options,
    );
  }
}

/** The call did not complete within its timeout. */
export class MeshTimeoutError extends MeshError {
  override name = "MeshTimeoutError";
  constructor(readonly subject: string, readonly timeoutMs: number, options?: { cause?: unknown }) {
    super(
      `no reply on ${subject} within ${timeoutMs} ms; the tool may still be running ` +
        `(a cancel was sent). Raise the timeout for long jobs.`,
      options,
    );
  }
}

/** A stream went silent for longer than its inactivity timeout (node died or hung). */
export class StreamInactivityError extends MeshError {
  override name = "StreamInactivityError";
  constructor(readonly subject: string, readonly idleMs: number) {
    super(
      `stream on ${subject} sent nothing for ${idleMs} ms; the serving node probably died or hung ` +
        `(a cancel was sent). Retry, or raise the inactivity timeout for tools that pause between chunks.`,
    );
  }
}

/** The caller aborted the call (AbortSignal); a cancel was published. */
export class MeshCancelledError extends MeshError {
  override name = "MeshCancelledError";
  constructor(readonly subject: string, readonly callId: string, options?: { cause?: unknown }) {
    super(`call on ${subject} was cancelled (cancel.${callId} published)`, options);
  }
}

/** A node replied with something that is not the contract's JSON. */
export class MalformedReplyError extends MeshError {
  override name = "MalformedReplyError";
  constructor(readonly subject: string, detail: string, readonly raw: string, options?: { cause?: unknown }) {
    super(
      `malformed reply on ${subject}: ${detail}; the node may run an incompatible jb-mesh version ` +
        `(reply starts with ${JSON.stringify(raw.slice(0, 80))})`,
      options,
    );
  }
}

/** The connection to NATS is closed or not (yet) established. */
export class NotConnectedError extends MeshError {
  override name = "NotConnectedError";
  constructor(detail: string, options?: { cause?: unknown }) {
    super(`not connected to NATS: ${detail}`, options);
  }
}

/** Bad configuration (for example token together with user/password). */
export class MeshConfigError extends MeshError {
  override name = "MeshConfigError";
}

/** The file store has no such object. */
export class FileNotFoundError extends MeshError {
  override name = "FileNotFoundError";
  constructor(readonly key: string) {
    super(`file store has no object "${key}" (it may have expired: the default TTL is 1 h)`);
  }
}

export function isMeshError(e: unknown): e is MeshError {
  return e instanceof MeshError;
}

/** The node serving a call or stream left the mesh (or crashed) before answering. */
export class NodeGoneError extends MeshError {
  override name = "NodeGoneError";
  constructor(readonly subject: string, readonly node: string, readonly tool: string, detail = "") {
    super(
      `node ${node} stopped serving ${tool} while the call on ${subject} was running${detail ? ` (${detail})` : ""}; ` +
        `its answer will never come. Call again: another node that offers ${tool} may serve it.`,
    );
  }
}

/**
 * The NATS connection dropped while a call was in flight: an answer sent during the
 * outage is gone for good, and jb-mesh cannot say whether the job is still running.
 */
export class ReplyLostError extends MeshError {
  override name = "ReplyLostError";
  constructor(readonly subject: string, readonly outageMs: number, readonly node: string) {
    super(
      `the NATS connection was down for ${(outageMs / 1000).toFixed(1)} s while the call on ${subject} ran` +
        `${node ? ` on node ${node}` : ""}; an answer sent in that time is lost and jb-mesh cannot resend it, ` +
        `so the call was cancelled on the node. Call again.`,
    );
  }
}

/**
 * The server refused the credentials (NATS "Authorization Violation"). Retrying with the
 * same options cannot help, and "start nats-server" would mislead: name what was sent.
 */
export class NatsAuthError extends NotConnectedError {
  override name = "NatsAuthError";
  constructor(readonly servers: string[], readonly credentials: string, options?: { cause?: unknown }) {
    super(
      `NATS at ${servers.join(",")} refused the connection: Authorization Violation. ` +
        `Credentials in use: ${credentials}. ` +
        `Set the ones your NATS account expects: a token (--nats-token / NATS_TOKEN), ` +
        `user and password (--nats-user + --nats-password / NATS_USER + NATS_PASSWORD), ` +
        `a creds file (--nats-creds / NATS_CREDS) or an nkey seed (--nats-nkey / NATS_NKEY).`,
      options,
    );
  }
}
