/**
 * Wire types of the jb-mesh contract (shared/PROTOCOL.md), defined once as zod
 * schemas. Every payload that arrives from the network is parsed with these, so a
 * malformed reply becomes a clear error instead of a crash further down.
 *
 * The schemas are deliberately lenient about *extra* fields (`.loose()`): newer
 * nodes may add fields, and we must not reject them.
 */
import { z } from "zod";

/** A JSON object (what `params`, `config` and schemas are on the wire). */
export type JsonObject = Record<string, unknown>;

const jsonObject = z.record(z.string(), z.unknown());

/** The input schema of one method, as jb-mesh nodes publish it in endpoint metadata. */
export const MethodSchemaWire = z
  .object({
    type: z.string().optional(),
    description: z.string().optional(),
    properties: jsonObject.optional(),
    required: z.array(z.string()).optional(),
    stream: z.boolean().optional(),
  })
  .loose();
export type MethodSchema = z.infer<typeof MethodSchemaWire>;

/** Request body for `tools.<tool>.<method>` and the `.stream` subjects. */
export interface CallRequest {
  params: JsonObject;
  /** Target node (informational; routing is by subject). */
  node?: string;
  /** Correlation id copied from `params.corr | correlation_id | trace_id`. */
  corr?: string;
  /** Identifies the call for `cancel.<call_id>`. */
  call_id?: string;
}

export const CallRequestWire = z
  .object({
    params: jsonObject.nullish(),
    node: z.string().optional(),
    corr: z.string().optional(),
    call_id: z.string().optional(),
  })
  .loose();

export const CallResultWire = z
  .object({
    ok: z.boolean(),
    result: z.unknown().optional(),
    error: z.string().optional(),
    node: z.string().optional().default(""),
  })
  .loose();
/** Reply of a tool call: `ok:true` with `result`, or `ok:false` with `error`. */
export type CallResult = z.infer<typeof CallResultWire>;

/** An error field as text: strings as they are, objects as `type: message` (+ traceback), null as absent. */
function errorText(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string") return v;
  if (typeof v === "object" && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    const msg = [o.type, o.message].filter((x) => typeof x === "string" && x).join(": ");
    const tb = typeof o.traceback === "string" ? `\n${o.traceback}` : "";
    if (msg || tb) return `${msg || "error"}${tb}`;
  }
  return JSON.stringify(v);
}

export const StreamFrameWire = z
  .object({
    chunk: z.unknown().optional(),
    result: z.unknown().optional(),
    done: z.boolean().optional().default(false),
    // Normally a string; a Python-side failure may bring `{message|type, traceback}` instead.
    error: z.preprocess(errorText, z.string().optional()),
    traceback: z.string().optional(),
    node: z.string().optional(),
  })
  .loose();
/**
 * One frame of a streaming call. The normal end is one frame with `done: true`; a frame
 * with `error` is final whatever its `done` says, and some streams have no final frame.
 */
export type StreamFrame = z.infer<typeof StreamFrameWire>;

export const SchemaResultWire = z
  .object({
    ok: z.boolean(),
    schema: z.record(z.string(), z.unknown()).nullish(),
    error: z.string().optional(),
  })
  .loose();
/** Reply of `node.<node>.tools.<tool>.schema`: method name → JSON Schema. */
export type SchemaResult = z.infer<typeof SchemaResultWire>;

// ---- $SRV.INFO (io.nats.micro.v1.info_response) ----

export const EndpointInfoWire = z
  .object({
    name: z.string(),
    subject: z.string(),
    metadata: z.record(z.string(), z.string()).nullish(),
    queue_group: z.string().optional(),
  })
  .loose();

export const ServiceInfoWire = z
  .object({
    type: z.string().optional(),
    name: z.string(),
    id: z.string(),
    version: z.string().optional().default(""),
    description: z.string().optional().default(""),
    metadata: z.record(z.string(), z.string()).nullish(),
    endpoints: z.array(EndpointInfoWire).nullish(),
  })
  .loose();
/** One micro service instance: one (node, tool) pair. */
export type ServiceInfo = z.infer<typeof ServiceInfoWire>;

// ---- node administration ----

export const InstallResultWire = z
  .object({
    ok: z.boolean(),
    tool_name: z.string().optional(),
    version: z.string().optional(),
    error: z.string().optional(),
    node: z.string().optional().default(""),
  })
  .loose();
export type InstallResult = z.infer<typeof InstallResultWire>;

export const UninstallResultWire = z
  .object({ ok: z.boolean(), error: z.string().optional(), node: z.string().optional().default("") })
  .loose();
export type UninstallResult = z.infer<typeof UninstallResultWire>;

export const UpdateResultWire = z
  .object({
    ok: z.boolean(),
    tool_name: z.string().optional(),
    old_version: z.string().optional(),
    new_version: z.string().optional(),
    error: z.string().optional(),
    node: z.string().optional().default(""),
  })
  .loose();
export type UpdateResult = z.infer<typeof UpdateResultWire>;

export const ConfigResultWire = z
  .object({
    ok: z.boolean(),
    config: jsonObject.nullish(),
    error: z.string().optional(),
    node: z.string().optional().default(""),
  })
  .loose();
export type ConfigResult = z.infer<typeof ConfigResultWire>;

export const ReleaseInspectInfoWire = z
  .object({
    tool_name: z.string(),
    tool_path: z.string(),
    manifest_version: z.string(),
    repo: z
      .object({
        root: z.string(),
        resolved_path: z.string(),
        branch: z.string(),
        commit: z.string(),
        upstream: z.string().optional(),
        upstream_commit: z.string().optional(),
        ahead: z.number().optional(),
        behind: z.number().optional(),
        status_short: z.string(),
        dirty: z.boolean(),
      })
      .loose()
      .nullish(),
  })
  .loose();
export type ReleaseInspectInfo = z.infer<typeof ReleaseInspectInfoWire>;

export const ReleaseInspectResultWire = z
  .object({
    ok: z.boolean(),
    error: z.string().optional(),
    node: z.string().optional().default(""),
    info: ReleaseInspectInfoWire.nullish(),
  })
  .loose();
export type ReleaseInspectResult = z.infer<typeof ReleaseInspectResultWire>;

export const InstallRequestWire = z.object({ source: z.string() }).loose();
export const UninstallRequestWire = z
  .object({ tool_name: z.string(), remove_env: z.boolean().optional().default(false) })
  .loose();
export const UpdateRequestWire = z
  .object({ tool_name: z.string(), clean: z.boolean().optional().default(false) })
  .loose();
export const ConfigRequestWire = z
  .object({ tool_name: z.string(), action: z.string(), values: jsonObject.nullish() })
  .loose();
export const ReleaseInspectRequestWire = z.object({ tool_name: z.string() }).loose();

// ---- files.* request/reply ----

/** Metadata of one object in the mesh file store. */
export interface FileInfo {
  key: string;
  size: number;
  contentType: string;
  /** Hex SHA-256 of the content. */
  etag: string;
  /** RFC 3339. */
  created: string;
}

export const FileListItemWire = z
  .object({
    key: z.string(),
    size: z.number(),
    content_type: z.string().optional().default(""),
    etag: z.string().optional().default(""),
    created: z.string().optional().default(""),
  })
  .loose();

export const FilePutResultWire = z
  .object({
    ok: z.boolean(),
    key: z.string().optional(),
    size: z.number().optional(),
    content_type: z.string().optional(),
    etag: z.string().optional(),
    error: z.string().optional(),
  })
  .loose();
export const FileGetResultWire = FilePutResultWire.extend({ data: z.string().optional() });
export const FileHeadResultWire = FilePutResultWire.extend({ created: z.string().optional() });
export const FileDeleteResultWire = z.object({ ok: z.boolean(), error: z.string().optional() }).loose();
export const FileListResultWire = z
  .object({ ok: z.boolean(), files: z.array(FileListItemWire).nullish(), error: z.string().optional() })
  .loose();

export const FileKeyRequestWire = z.object({ key: z.string().optional().default("") }).loose();
export const FilePutRequestWire = z
  .object({
    key: z.string().optional().default(""),
    data: z.string().optional().default(""),
    content_type: z.string().optional().default(""),
  })
  .loose();
export const FileListRequestWire = z.object({ prefix: z.string().optional().default("") }).loose();

/** Lifecycle event envelope on `events.node.*` / `events.tool.*`. */
export interface MeshEvent {
  subject: string;
  type?: string;
  node?: string;
  event?: string;
  timestamp?: string;
  data?: unknown;
}
