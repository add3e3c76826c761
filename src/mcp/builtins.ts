/**
 * The bridge's own tools: uploading a local file into the mesh file store, and
 * (with --admin) the node administration requests.
 */
import { basename, extname } from "node:path";
import { randomUUID } from "node:crypto";
import type { CallToolResult, Tool } from "@modelcontextprotocol/sdk/types.js";
import type { Bridge } from "./bridge.js";
import { openAllowedFile } from "./paths.js";
import { errorResult, fileUri, okResult, textOf, thrownResult } from "./results.js";
import type { Access } from "./policy.js";

export interface BuiltinContext {
  bridge: Bridge;
  /** Folders the client shares as MCP roots (asked on demand). */
  roots(): Promise<string[]>;
  /**
   * The client runs on this machine (stdio), so its roots name folders of ours. Over
   * HTTP the roots name folders of the client's machine and say nothing about what
   * this server may open: then only --allow-dir counts and roots() is never asked.
   */
  localClient?: boolean;
  /** The caller under the policy: upload prefixes, nodes it may administer. */
  access?: Access;
}

/** Why an HTTP client's upload reads nothing: the operator allowed no folder. */
export const REMOTE_UPLOAD_OFF =
  "mesh_upload_file: reading local files over HTTP is off: the server's operator allowed no folder. " +
  "A remote client's MCP roots name folders on the client's machine, not on the server's, so they do not count. " +
  "Start mesh-mcp with --allow-dir <folder> (or MESH_MCP_ALLOW_DIRS) to let HTTP clients upload files from that server folder, " +
  "or use stdio, where the client's roots count.";

export interface Builtin {
  tool: Tool;
  admin?: boolean;
  run(args: Record<string, unknown>, ctx: BuiltinContext): Promise<CallToolResult>;
}

const MIME: Record<string, string> = {
  ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp",
  ".svg": "image/svg+xml", ".txt": "text/plain", ".md": "text/markdown", ".json": "application/json",
  ".csv": "text/csv", ".html": "text/html", ".pdf": "application/pdf", ".wav": "audio/wav", ".mp3": "audio/mpeg",
  ".ogg": "audio/ogg", ".mp4": "video/mp4",
};

export function guessContentType(path: string): string {
  return MIME[extname(path).toLowerCase()] ?? "application/octet-stream";
}

const nodeProp = { type: "string", description: "Target mesh node (see the mesh://nodes resource)." };
const toolNameProp = { type: "string", description: "Tool name on that node." };

function adminTool(
  name: string, description: string, properties: Record<string, unknown>, required: string[],
  run: (b: Bridge, a: Record<string, unknown>) => Promise<unknown>,
): Builtin {
  return {
    admin: true,
    tool: {
      name,
      title: description.split(".")[0],
      description,
      inputSchema: { type: "object", properties: { node: nodeProp, ...properties }, required: ["node", ...required] },
      annotations: { destructiveHint: !name.endsWith("inspect"), openWorldHint: true },
    },
    async run(args, ctx) {
      const why = ctx.bridge.unavailableReason();
      if (why) return errorResult(`${name}: ${why}`);
      if (ctx.access && !ctx.access.can("node.use", str(args.node))) return errorResult(`${name}: you may not administer node "${str(args.node)}" (see the nodes you may use in mesh://nodes)`);
      try {
        const reply = (await run(ctx.bridge, args)) as { ok: boolean; error?: string; node?: string };
        if (!reply.ok) return errorResult(`${name} failed on node ${reply.node || String(args.node)}: ${reply.error ?? "no error text"}`);
        return okResult(reply, { inlineImageMax: 0 });
      } catch (err) {
        return thrownResult(err, name);
      }
    },
  };
}

const str = (v: unknown) => String(v ?? "");

export const BUILTINS: Builtin[] = [
  {
    tool: {
      name: "mesh_upload_file",
      title: "Upload a local file to the mesh file store",
      description:
        "Copies a local file into the mesh file store and returns its key. Pass the key to a mesh tool's file " +
        "parameter (image, file, input, …) so the node reads it. The file is read on the machine mesh-mcp runs on: " +
        "only files under the folders allowed with --allow-dir, or (stdio only) the client's roots, can be uploaded.",
      inputSchema: {
        type: "object",
        properties: {
          path: { type: "string", description: "Absolute path of the local file." },
          key: { type: "string", description: "Store key to use (default: uploads/<random>/<file name>)." },
          content_type: { type: "string", description: "MIME type (default: guessed from the extension)." },
        },
        required: ["path"],
      },
      annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: false },
    },
    async run(args, ctx) {
      const why = ctx.bridge.unavailableReason();
      if (why) return errorResult(`mesh_upload_file: ${why}`);
      const path = str(args.path);
      try {
        const allowDirs = ctx.bridge.opts.allowDirs ?? [];
        if (!ctx.localClient && allowDirs.length === 0) return errorResult(REMOTE_UPLOAD_OFF);
        const allowed = [...allowDirs, ...(ctx.localClient ? await ctx.roots() : [])];
        // Opened once and checked as opened; read only from that handle (paths.ts says why).
        const file = await openAllowedFile(path, allowed);
        let info;
        try {
          // Under the policy: only into the caller's upload prefixes (the default key into the first of them).
          const prefixes = ctx.access?.uploadPrefixes();
          const base = prefixes === undefined || prefixes.some((p) => "uploads/".startsWith(p)) ? "uploads/" : prefixes[0]!;
          const key = args.key ? str(args.key) : `${base}${randomUUID().slice(0, 8)}/${basename(file.path)}`;
          if (ctx.access && !ctx.access.can("file.upload", key)) {
            return errorResult(`mesh_upload_file: you may not write "${key}"; upload under ${prefixes!.map((p) => `"${p}"`).join(", ")}`);
          }
          const contentType = args.content_type ? str(args.content_type) : guessContentType(file.path);
          info = await ctx.bridge.mesh!.files.putOpenFile(key, file.handle, contentType);
        } finally {
          await file.handle.close().catch(() => {});
        }
        const result = { key: info.key, size: info.size, content_type: info.contentType, etag: info.etag, uri: fileUri(info.key) };
        return {
          // The uri is in the text; a resource_link only on request (see fileContent in results.ts).
          content: [
            { type: "text", text: textOf(result) },
            ...(ctx.bridge.opts.resourceLinks
              ? [{ type: "resource_link" as const, uri: result.uri, name: info.key, mimeType: info.contentType, size: info.size }]
              : []),
          ],
          structuredContent: result,
        };
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (e.code === "ENOENT") return errorResult(`mesh_upload_file: no such file: ${path}`);
        if (e.code === "EISDIR") return errorResult(`mesh_upload_file: ${path} is a folder; give a file`);
        return errorResult(`mesh_upload_file: ${e.message}`);
      }
    },
  },
  adminTool("mesh_admin_install", "Install a tool on a node from a git URL or path.", { source: { type: "string", description: "Git URL or path." } }, ["source"],
    (b, a) => b.mesh!.admin.install(str(a.node), str(a.source))),
  adminTool("mesh_admin_uninstall", "Uninstall a tool from a node.", { tool_name: toolNameProp, remove_env: { type: "boolean", description: "Also remove its environment." } }, ["tool_name"],
    (b, a) => b.mesh!.admin.uninstall(str(a.node), str(a.tool_name), a.remove_env === true)),
  adminTool("mesh_admin_update", "Update a tool on a node.", { tool_name: toolNameProp, clean: { type: "boolean", description: "Force a clean rebuild of its environment." } }, ["tool_name"],
    (b, a) => b.mesh!.admin.update(str(a.node), str(a.tool_name), a.clean === true)),
  adminTool("mesh_admin_config", "Get or set a tool's configuration on a node.", {
    tool_name: toolNameProp,
    action: { type: "string", enum: ["get", "set"], description: "get or set." },
    values: { type: "object", description: "Values to set (action set)." },
  }, ["tool_name", "action"],
    (b, a) => b.mesh!.admin.config(str(a.node), str(a.tool_name), a.action === "set" ? "set" : "get", a.values as Record<string, unknown> | undefined)),
  adminTool("mesh_admin_release_inspect", "Describe the deployed checkout of a tool on a node (read-only).", { tool_name: toolNameProp }, ["tool_name"],
    (b, a) => b.mesh!.admin.releaseInspect(str(a.node), str(a.tool_name))),
];

export const BUILTIN_TOOL_NAMES: ReadonlySet<string> = new Set(BUILTINS.map((b) => b.tool.name));

export function builtinsFor(admin: boolean): Builtin[] {
  return BUILTINS.filter((b) => admin || !b.admin);
}
