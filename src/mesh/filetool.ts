/** The built-in `files` tool: the file store as an ordinary, discoverable mesh tool. */
import { DEFAULT_CONTENT_TYPE, type FileStore } from "./files.js";
import type { ToolDefinition } from "./node.js";
import { FILES_TOOL, type FileOp } from "./subjects.js";
import type { JsonObject, MethodSchema } from "./types.js";

const keyProp = { type: "string", description: "File store object key." };

/** The method schemas jb-mesh publishes for the `files` tool. */
export const FILE_TOOL_SCHEMAS: Record<string, MethodSchema> = {
  put: {
    type: "object",
    description: "Store a base64-encoded blob in the mesh file store.",
    required: ["key", "data"],
    properties: {
      key: keyProp,
      data: { type: "string", description: "Base64-encoded file content." },
      content_type: { type: "string", description: "Optional MIME content type. Defaults to application/octet-stream." },
    },
  },
  get: {
    type: "object",
    description: "Retrieve a blob from the mesh file store by key. Data is returned base64-encoded.",
    required: ["key"],
    properties: { key: keyProp },
  },
  head: {
    type: "object",
    description: "Retrieve metadata for a blob without returning its content.",
    required: ["key"],
    properties: { key: keyProp },
  },
  delete: {
    type: "object",
    description: "Delete a blob from the mesh file store.",
    required: ["key"],
    properties: { key: keyProp },
  },
  list: {
    type: "object",
    description: "List blobs in the mesh file store, optionally filtered by key prefix.",
    properties: { prefix: { type: "string", description: "Optional key prefix filter." } },
  },
};

function str(params: JsonObject, key: string, required: boolean): string {
  const v = params[key];
  if (v === undefined || v === null) {
    if (required) throw new Error(`${key} is required`);
    return "";
  }
  if (typeof v !== "string") throw new Error(`${key} must be a string`);
  if (required && v === "") throw new Error(`${key} is required`);
  return v;
}

/** One file-store operation: params as on the wire → the Go reply shape (`ok:true` …); throws on failure. */
export type FileOpHandler = (params: JsonObject) => Promise<JsonObject>;

/**
 * The five operations with jb-mesh's reply shapes, shared by the `files` tool and
 * the `files.*` handlers. `files.put` over request/reply accepts empty data (as the
 * Go handler does); the tool requires it.
 */
export function fileOps(store: FileStore, opts: { requireData: boolean }): Record<FileOp, FileOpHandler> {
  return {
    put: async (p) => {
      const key = str(p, "key", true);
      const data = Buffer.from(str(p, "data", opts.requireData), "base64");
      const info = await store.put(key, new Uint8Array(data), str(p, "content_type", false) || DEFAULT_CONTENT_TYPE);
      return { ok: true, key: info.key, size: info.size, content_type: info.contentType, etag: info.etag };
    },
    get: async (p) => {
      const { info, data } = await store.getBytes(str(p, "key", true));
      return { ok: true, key: info.key, data: Buffer.from(data).toString("base64"), content_type: info.contentType, size: info.size, etag: info.etag };
    },
    head: async (p) => {
      const info = await store.head(str(p, "key", true));
      return { ok: true, key: info.key, content_type: info.contentType, size: info.size, etag: info.etag, created: info.created };
    },
    delete: async (p) => {
      await store.delete(str(p, "key", true));
      return { ok: true };
    },
    list: async (p) => {
      const files = await store.list(str(p, "prefix", false));
      return { ok: true, files: files.map((f) => ({ key: f.key, size: f.size, content_type: f.contentType, etag: f.etag, created: f.created })) };
    },
  };
}

export function fileToolDefinition(store: FileStore): ToolDefinition {
  const ops = fileOps(store, { requireData: true });
  const methods: ToolDefinition["methods"] = {};
  for (const op of Object.keys(ops) as FileOp[]) methods[op] = { schema: FILE_TOOL_SCHEMAS[op], handler: (p) => ops[op](p) };
  return {
    name: FILES_TOOL,
    version: "1.0.0",
    description: "Built-in ephemeral mesh file store for exchanging larger blobs by key",
    methods,
  };
}
