/**
 * The mesh file store and read-only mesh views as MCP resources.
 *   mesh://files/<key>     an object of the file store (template mesh://files/{+key})
 *   mesh://nodes           every node and the tools/methods it offers
 *   mesh://nodes/<node>    one node
 *   mesh://tools           every visible method with its MCP name, nodes and schema source
 */
import type { ReadResourceResult, Resource, ResourceTemplate } from "@modelcontextprotocol/sdk/types.js";
import { FileNotFoundError } from "../mesh/errors.js";
import { deferBase64, DEFER_MIN_BYTES } from "./deferred-blobs.js";
import type { Bridge } from "./bridge.js";
import { FILE_URI_PREFIX, fileUri, keyFromUri } from "./results.js";
import { base64Size, mib } from "./message-max.js";
import { methodsFor } from "./authorize.js";
import type { Access } from "./policy.js";

export const PAGE_SIZE = 100;
export const FILE_TEMPLATE = `${FILE_URI_PREFIX}{+key}`;
export const NODE_TEMPLATE = "mesh://nodes/{node}";

export class ResourceError extends Error {
  override name = "ResourceError";
}

/** A file too large for one message of this transport (stdio): the error says how to get it instead. */
export class ResourceTooLargeError extends Error {
  override name = "ResourceTooLargeError";
}

/** Room a resources/read answer needs besides the content (envelope, uri, mimeType, _meta). */
const ENVELOPE_BYTES = 4096;

function tooLargeForMessage(uri: string, key: string, size: number, encoded: number, max: number, bucket: string): ResourceTooLargeError {
  const form = encoded === size ? "" : ` (${encoded} bytes once encoded)`;
  return new ResourceTooLargeError(
    `${uri} is ${size} bytes${form}, more than one MCP message over stdio may carry (${mib(max)}; the official MCP clients read at most 10 MiB a line). ` +
      `Get it another way: read it through mesh-mcp over HTTP (--transport http; only --resource-max bounds it there), ` +
      `fetch it from the NATS Object Store (nats object get ${bucket} ${key}), or have the tool produce a smaller file.`,
  );
}

/** A cursor we did not hand out: the client's mistake (-32602), not a missing resource. */
export class InvalidCursorError extends Error {
  override name = "InvalidCursorError";
}

export const TEMPLATES: ResourceTemplate[] = [
  { uriTemplate: FILE_TEMPLATE, name: "mesh-file", title: "Mesh file store object", description: "An object of the mesh file store by key (e.g. outputs/abc.png)." },
  { uriTemplate: NODE_TEMPLATE, name: "mesh-node", title: "Mesh node", description: "One mesh node and the tools it offers.", mimeType: "application/json" },
];

const VIEWS: Resource[] = [
  { uri: "mesh://nodes", name: "mesh-nodes", title: "Mesh nodes", description: "Every node and the tools and methods it offers.", mimeType: "application/json" },
  { uri: "mesh://tools", name: "mesh-tools", title: "Mesh tools", description: "Every visible mesh method: MCP name, nodes, streaming, schema source.", mimeType: "application/json" },
];

export function isTextType(ct: string): boolean {
  return /^text\//.test(ct) || /(json|xml|yaml|javascript|csv|svg\+xml|x-sh|toml)/.test(ct);
}

/** Pages over views + files; the cursor is the offset (opaque to clients). `access`: only files it may read. */
export async function listResources(bridge: Bridge, cursor?: string, access?: Access): Promise<{ resources: Resource[]; nextCursor?: string }> {
  const decoded = cursor === undefined ? "0" : Buffer.from(cursor, "base64url").toString();
  const offset = /^\d{1,9}$/.test(decoded) ? Number(decoded) : -1;
  if (offset < 0) throw new InvalidCursorError(`invalid cursor "${cursor}"; list again from the start`);
  const all0 = bridge.mesh && !bridge.unavailableReason() ? await bridge.mesh.files.list() : [];
  const files = access && !access.unrestricted ? all0.filter((f) => access.can("file.read", f.key)) : all0;
  const all: Resource[] = [
    ...VIEWS,
    ...files.map((f) => ({
      uri: fileUri(f.key),
      name: f.key,
      mimeType: f.contentType || undefined,
      size: f.size,
      description: `mesh file store object, ${f.size} bytes${f.created ? `, created ${f.created}` : ""}`,
    })),
  ];
  const page = all.slice(offset, offset + PAGE_SIZE);
  const next = offset + PAGE_SIZE < all.length ? Buffer.from(String(offset + PAGE_SIZE)).toString("base64url") : undefined;
  return next ? { resources: page, nextCursor: next } : { resources: page };
}

function json(uri: string, value: unknown): ReadResourceResult {
  return { contents: [{ uri, mimeType: "application/json", text: JSON.stringify(value, null, 2) }] };
}

/** The nodes `access` may use and the methods it may call on them. */
function nodesView(bridge: Bridge, access?: Access): Record<string, unknown> {
  const out: Record<string, { tools: Record<string, { version: string; description: string; methods: string[] }> }> = {};
  for (const e of access ? methodsFor(bridge, access) : bridge.methods()) {
    for (const n of e.nodes) {
      const node = (out[n] ??= { tools: {} });
      const t = (node.tools[e.tool] ??= { version: e.version, description: e.toolDescription, methods: [] });
      t.methods.push(e.method);
    }
  }
  return out;
}

/**
 * `access`: views show what it may call; a file it may not read answers as a missing one.
 * `messageMax`: the most bytes one message of the client's transport may carry (stdio:
 * STDIO_MESSAGE_MAX); a file whose answer would be larger is refused with a
 * ResourceTooLargeError naming its size and how to get it, before it is downloaded.
 * `deferLargeBlobs`: large binary contents as a stand-in the transport encodes while
 * writing (deferred-blobs.ts; HTTP).
 */
export async function readResource(bridge: Bridge, uri: string, access?: Access, messageMax?: number, deferLargeBlobs = false): Promise<ReadResourceResult> {
  const why = bridge.unavailableReason();
  if (why) throw new ResourceError(why);
  if (uri === "mesh://nodes") return json(uri, nodesView(bridge, access));
  if (uri.startsWith("mesh://nodes/")) {
    const node = decodeURIComponent(uri.slice("mesh://nodes/".length));
    const view = nodesView(bridge, access)[node];
    if (!view) throw new ResourceError(`no node "${node}" in the mesh; read mesh://nodes for the list`);
    return json(uri, { node, ...view });
  }
  if (uri === "mesh://tools") {
    return json(uri, (access ? methodsFor(bridge, access) : bridge.methods()).map((e) => ({
      name: bridge.names.nameOf(e.tool, e.method),
      tool: e.tool, method: e.method, nodes: e.nodes, stream: e.stream, version: e.version, schema_source: e.schemaSource,
    })));
  }
  const key = keyFromUri(uri);
  if (key === undefined) throw new ResourceError(`unknown resource ${uri}; use mesh://files/<key>, mesh://nodes or mesh://tools`);
  const max = bridge.opts.resourceMax ?? 25 * 1024 * 1024;
  // Word for word the store's answer for a missing key: whether it exists is not told.
  if (access && !access.can("file.read", key)) throw new ResourceError(new FileNotFoundError(key).message);
  const files = bridge.mesh!.files;
  try {
    const room = messageMax === undefined ? undefined : messageMax - ENVELOPE_BYTES - Buffer.byteLength(uri) * 2;
    if (room !== undefined) {
      // Refused before downloading: the size is known from the store's metadata.
      const head = await files.head(key);
      const encoded = isTextType(head.contentType || "") ? head.size : base64Size(head.size);
      if (encoded > room) throw tooLargeForMessage(uri, key, head.size, encoded, messageMax!, files.bucket);
    }
    const { info, data } = await files.getBytes(key, max);
    const mimeType = info.contentType || "application/octet-stream";
    // A view, not Buffer.from(data): that would copy the whole object once more.
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (isTextType(mimeType)) {
      const text = bytes.toString("utf8");
      // Escapes (control characters, quotes) can grow text up to 6×: measure when it might not fit.
      if (room !== undefined && bytes.length * 6 > room) {
        const encoded = Buffer.byteLength(JSON.stringify(text));
        if (encoded > room) throw tooLargeForMessage(uri, key, bytes.length, encoded, messageMax!, files.bucket);
      }
      return { contents: [{ uri, mimeType, text }] };
    }
    if (room !== undefined && base64Size(bytes.length) > room) throw tooLargeForMessage(uri, key, bytes.length, base64Size(bytes.length), messageMax!, files.bucket);
    const blob = deferLargeBlobs && bytes.byteLength >= DEFER_MIN_BYTES ? deferBase64(bytes) : bytes.toString("base64");
    return { contents: [{ uri, mimeType, blob }] };
  } catch (err) {
    if (err instanceof ResourceTooLargeError) throw err;
    if (err instanceof FileNotFoundError) throw new ResourceError(err.message);
    throw new ResourceError(`cannot read ${uri}: ${(err as Error).message}`);
  }
}

/** Completion of the `key` argument of the file template (and `node` of the node template), within what `access` may read/use. */
export async function complete(bridge: Bridge, template: string, arg: string, value: string, access?: Access): Promise<string[]> {
  if (!bridge.mesh || bridge.unavailableReason()) return [];
  if (template === FILE_TEMPLATE && arg === "key") {
    const keys = (await bridge.mesh.files.list(value).catch(() => [])).map((f) => f.key);
    return (access && !access.unrestricted ? keys.filter((k) => access.can("file.read", k)) : keys).slice(0, 100);
  }
  if (template === NODE_TEMPLATE && arg === "node") {
    return Object.keys(nodesView(bridge, access)).filter((n) => n.startsWith(value)).slice(0, 100);
  }
  return [];
}
