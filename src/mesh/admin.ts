/**
 * Node-targeted request/reply services beside the tools: administration
 * (install, uninstall, update, config, release inspect), the fallback schema
 * subject, and the `files.*` handlers. Both sides live here, so each subject's
 * request and reply shapes are written once.
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { z } from "zod";
import { parseReply } from "./call.js";
import { MeshTimeoutError, NoRespondersError, NotConnectedError } from "./errors.js";
import type { FileStore } from "./files.js";
import { fileOps } from "./filetool.js";
import { adminSubject, filesSubject, type AdminRequest, type FileOp } from "./subjects.js";
import {
  ConfigRequestWire,
  ConfigResultWire,
  FileKeyRequestWire,
  FileListRequestWire,
  FilePutRequestWire,
  InstallRequestWire,
  InstallResultWire,
  ReleaseInspectRequestWire,
  ReleaseInspectResultWire,
  SchemaResultWire,
  UninstallRequestWire,
  UninstallResultWire,
  UpdateRequestWire,
  UpdateResultWire,
  type ConfigResult,
  type InstallResult,
  type JsonObject,
  type ReleaseInspectInfo,
  type ReleaseInspectResult,
  type SchemaResult,
  type UninstallResult,
  type UpdateResult,
} from "./types.js";

const decoder = new TextDecoder();

/** Sends one JSON request and parses the reply, mapping NATS errors to mesh errors. */
export async function requestJson<T extends z.ZodType>(
  nc: NatsConnection,
  subject: string,
  body: unknown,
  schema: T,
  timeoutMs: number,
): Promise<z.output<T>> {
  if (nc.isClosed()) throw new NotConnectedError("the connection is closed");
  let msg: Msg;
  try {
    msg = await nc.request(subject, body === undefined ? "" : JSON.stringify(body), { timeout: timeoutMs });
  } catch (err) {
    const e = err as { isNoResponders?: () => boolean; name?: string; message?: string };
    if (e.isNoResponders?.()) throw new NoRespondersError(subject, { cause: err });
    if (e.name === "TimeoutError" || /timeout/i.test(e.message ?? "")) throw new MeshTimeoutError(subject, timeoutMs, { cause: err });
    throw err;
  }
  return parseReply(subject, msg.data, schema);
}

/** Client side of the node administration requests. */
export class AdminClient {
  constructor(private readonly nc: NatsConnection) {}

  private req<T extends z.ZodType>(node: string, what: AdminRequest, body: unknown, schema: T, timeoutMs: number) {
    return requestJson(this.nc, adminSubject(node, what), body, schema, timeoutMs);
  }

  install(node: string, source: string, timeoutMs = 600_000): Promise<InstallResult> {
    return this.req(node, "install", { source }, InstallResultWire, timeoutMs);
  }
  uninstall(node: string, toolName: string, removeEnv = false, timeoutMs = 60_000): Promise<UninstallResult> {
    return this.req(node, "uninstall", { tool_name: toolName, remove_env: removeEnv }, UninstallResultWire, timeoutMs);
  }
  update(node: string, toolName: string, clean = false, timeoutMs = 600_000): Promise<UpdateResult> {
    return this.req(node, "update", { tool_name: toolName, clean }, UpdateResultWire, timeoutMs);
  }
  config(node: string, toolName: string, action: "get" | "set", values?: JsonObject, timeoutMs = 30_000): Promise<ConfigResult> {
    const body: JsonObject = { tool_name: toolName, action };
    if (values && Object.keys(values).length > 0) body.values = values;
    return this.req(node, "config", body, ConfigResultWire, timeoutMs);
  }
  releaseInspect(node: string, toolName: string, timeoutMs = 30_000): Promise<ReleaseInspectResult> {
    return this.req(node, "release.inspect", { tool_name: toolName }, ReleaseInspectResultWire, timeoutMs);
  }
  toolSchema(node: string, tool: string, timeoutMs = 5_000): Promise<SchemaResult> {
    return requestJson(this.nc, `node.${node}.tools.${tool}.schema`, undefined, SchemaResultWire, timeoutMs);
  }
}

export interface AdminHandlers {
  install?: (source: string) => Promise<{ toolName: string; version: string }>;
  uninstall?: (toolName: string, removeEnv: boolean) => Promise<void>;
  update?: (toolName: string, clean: boolean) => Promise<{ oldVersion: string; newVersion: string }>;
  config?: (toolName: string, action: string, values: JsonObject | undefined) => Promise<JsonObject>;
  releaseInspect?: (toolName: string) => Promise<ReleaseInspectInfo>;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Replies are sent from promise callbacks: a publish that throws there (the
 * connection closed while the handler ran) would be an unhandled rejection, which
 * ends a Node process. The caller has gone with the connection anyway.
 */
function publishQuietly(nc: NatsConnection, subject: string, body: JsonObject): void {
  try {
    nc.publish(subject, JSON.stringify(body));
  } catch {
    /* connection closed or draining */
  }
}

/**
 * Subscribes `subject` and answers every request with `handle`'s reply. Malformed
 * JSON gets `{ok:false, error:"invalid request: …"}` plus `extra` (e.g. the node),
 * and a throwing handler gets `{ok:false, error}`: a request is never left unanswered.
 */
export function serveJson<T extends z.ZodType>(
  nc: NatsConnection,
  subject: string,
  schema: T,
  extra: JsonObject,
  handle: (req: z.output<T>, msg: Msg) => Promise<JsonObject | undefined>,
): Subscription {
  const respond = (msg: Msg, body: JsonObject | undefined) => {
    if (msg.reply && body) publishQuietly(nc, msg.reply, { ...body, ...extra });
  };
  return nc.subscribe(subject, {
    callback: (err, msg) => {
      if (err) return;
      let json: unknown;
      try {
        json = msg.data.length ? JSON.parse(decoder.decode(msg.data)) : {};
      } catch (e) {
        return respond(msg, { ok: false, error: `invalid request: ${errorText(e)}` });
      }
      const parsed = schema.safeParse(json);
      if (!parsed.success) return respond(msg, { ok: false, error: `invalid request: ${parsed.error.issues[0]?.message}` });
      handle(parsed.data, msg).then(
        (body) => respond(msg, body),
        (e) => respond(msg, { ok: false, error: errorText(e) }),
      );
    },
  });
}

/** Subscribes the admin handlers given; returns the subscriptions. */
export function subscribeAdmin(nc: NatsConnection, node: string, h: AdminHandlers): Subscription[] {
  const subs: Subscription[] = [];
  const extra = { node };
  const s = (what: AdminRequest) => adminSubject(node, what);
  if (h.install) {
    const fn = h.install;
    subs.push(serveJson(nc, s("install"), InstallRequestWire, extra, async (r) => {
      const { toolName, version } = await fn(r.source);
      return { ok: true, tool_name: toolName, version };
    }));
  }
  if (h.uninstall) {
    const fn = h.uninstall;
    subs.push(serveJson(nc, s("uninstall"), UninstallRequestWire, extra, async (r) => {
      await fn(r.tool_name, r.remove_env);
      return { ok: true };
    }));
  }
  if (h.update) {
    const fn = h.update;
    subs.push(serveJson(nc, s("update"), UpdateRequestWire, extra, async (r) => {
      const { oldVersion, newVersion } = await fn(r.tool_name, r.clean);
      return { ok: true, tool_name: r.tool_name, old_version: oldVersion, new_version: newVersion };
    }));
  }
  if (h.config) {
    const fn = h.config;
    subs.push(serveJson(nc, s("config"), ConfigRequestWire, extra, async (r) => ({
      ok: true,
      config: await fn(r.tool_name, r.action, r.values ?? undefined),
    })));
  }
  if (h.releaseInspect) {
    const fn = h.releaseInspect;
    subs.push(serveJson(nc, s("release.inspect"), ReleaseInspectRequestWire, extra, async (r) => ({
      ok: true,
      info: await fn(r.tool_name),
    })));
  }
  return subs;
}

/** Serves `node.<node>.tools.*.schema` (the fallback schema source). */
export function subscribeToolSchema(
  nc: NatsConnection,
  node: string,
  handler: (toolName: string) => Promise<Record<string, unknown>>,
): Subscription {
  return nc.subscribe(`node.${node}.tools.*.schema`, {
    callback: (err, msg) => {
      if (err || !msg.reply) return;
      const reply = msg.reply;
      const tool = msg.subject.split(".")[3] ?? "";
      handler(tool).then(
        (schema) => publishQuietly(nc, reply, { ok: true, schema }),
        (e) => publishQuietly(nc, reply, { ok: false, error: errorText(e) }),
      );
    },
  });
}

/**
 * Serves `files.put|get|head|delete|list` from `store` (plain subscriptions, not
 * node-scoped: every node with a store may answer, the caller takes the first).
 * Requests are answered only while `store` uses the Object Store.
 */
export function subscribeFileHandlers(nc: NatsConnection, store: FileStore): Subscription[] {
  const ops = fileOps(store, { requireData: false });
  // Only an Object Store can back files.*: a store that itself goes through files.* would
  // send each request back into the mesh, to this very handler (a request storm). Such a
  // node stays silent, like a Go node without JetStream, so that a node with a store answers.
  const serve = async (op: FileOp, params: JsonObject): Promise<JsonObject | undefined> => {
    if ((await store.mode()) !== "objectstore") return undefined;
    return ops[op](params).catch((e) => {
      const msg = errorText(e);
      throw new Error(msg === "key is required" ? msg : `${op} failed: ${msg}`);
    });
  };
  return [
    serveJson(nc, filesSubject("put"), FilePutRequestWire, {}, (r) => serve("put", r)),
    serveJson(nc, filesSubject("get"), FileKeyRequestWire, {}, (r) => serve("get", r)),
    serveJson(nc, filesSubject("head"), FileKeyRequestWire, {}, (r) => serve("head", r)),
    serveJson(nc, filesSubject("delete"), FileKeyRequestWire, {}, (r) => serve("delete", r)),
    serveJson(nc, filesSubject("list"), FileListRequestWire, {}, (r) => serve("list", r)),
  ];
}
