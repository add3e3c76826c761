/**
 * Agent-framework tests: a real mesh serving one tool per kind of result we send, the
 * built mesh-mcp over HTTP, fake `fetch` functions that stand in for the OpenAI and
 * Anthropic APIs (recording what the real provider classes would send), and the rules
 * those APIs apply to tool results, taken from their SDKs' request types.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { ensureBuilt, mcpEnv, registerCalculator } from "../helpers/mcp.js";
import { startCli } from "../http/helpers.js";

/** A 1×1 PNG. */
export const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==", "base64");
export const PNG_B64 = PNG.toString("base64");

/** Each kind of result mesh-mcp sends, as [MCP tool name, arguments, what the model must be told]. */
export interface ResultCase {
  kind: string;
  tool: string;
  args: Record<string, unknown>;
  /** Text the provider request must carry. */
  expect: RegExp;
  /** The provider request must carry the PNG itself. */
  image?: boolean;
}

export interface Fixture {
  url: string;
  /** Same mesh, started with --inline-image-max 0 (no inline images). */
  textOnlyUrl: string;
  /** Same mesh, started with --resource-links. */
  linksUrl: string;
  cases: ResultCase[];
}

export async function frameworkFixture(t: TestContext): Promise<Fixture> {
  await ensureBuilt();
  const env = await mcpEnv(t);
  const node = await env.node("n1");
  await registerCalculator(node);
  await node.registerTool({
    name: "report",
    methods: { summary: { handler: () => ({ total: 3, items: [{ name: "a", ok: true }, { name: "b", ok: false }] }) } },
  });
  await node.registerTool({
    name: "painter",
    methods: {
      draw: { handler: async () => ({ key: (await node.files.put("outputs/dot.png", PNG, "image/png")).key, width: 1 }) },
      export: { handler: async () => ({ key: (await node.files.put("outputs/table.csv", Buffer.from("a,b\n1,2\n"), "text/csv")).key }) },
    },
  });
  const dir = mkdtempSync(join(tmpdir(), "mesh-mcp-fw-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "photo.png"), PNG);
  const natsEnv = { NATS_URL: env.nats.url };
  const [full, textOnly, links] = await Promise.all([
    startCli(t, ["--allow-dir", dir], natsEnv),
    startCli(t, ["--allow-dir", dir, "--inline-image-max", "0"], natsEnv),
    startCli(t, ["--allow-dir", dir, "--resource-links"], natsEnv),
  ]);
  return {
    url: full.url,
    textOnlyUrl: textOnly.url,
    linksUrl: links.url,
    cases: [
      { kind: "text", tool: "calculator__add", args: { a: 2, b: 40 }, expect: /42/ },
      { kind: "JSON/structured", tool: "report__summary", args: {}, expect: /"total": 3/ },
      { kind: "image file", tool: "painter__draw", args: {}, expect: /mesh file outputs\/dot\.png \(image\/png, \d+ bytes\).*mesh:\/\/files\/outputs\/dot\.png/, image: true },
      { kind: "non-image file", tool: "painter__export", args: {}, expect: /mesh file outputs\/table\.csv \(text\/csv, 8 bytes\).*mesh:\/\/files\/outputs\/table\.csv/ },
      { kind: "upload (mesh_upload_file)", tool: "mesh_upload_file", args: { path: join(dir, "photo.png") }, expect: /mesh:\/\/files\/uploads\/[0-9a-f]{8}\/photo\.png/ },
      { kind: "error", tool: "calculator__fail", args: {}, expect: /calculator\.fail failed on node n1: division by zero/ },
    ],
  };
}

// ---------------------------------------------------------------- fake provider APIs

const json = (o: unknown) => new Response(JSON.stringify(o), { status: 200, headers: { "content-type": "application/json" } });

export type Api = "openai-chat" | "openai-responses" | "anthropic";

/**
 * A fetch that answers like the provider: the first request with a call of `tool`
 * (so agent loops run it), later ones with plain text. Every request body is kept.
 */
export function fakeProvider(api: Api, tool = "", args: object = {}): { fetch: typeof fetch; sent: Array<Record<string, unknown>> } {
  const sent: Array<Record<string, unknown>> = [];
  const f = async (_url: unknown, init?: RequestInit) => {
    sent.push(JSON.parse(String(init?.body)) as Record<string, unknown>);
    const call = sent.length === 1 && tool !== "";
    if (api === "openai-responses") {
      return json({
        id: `resp_${sent.length}`, object: "response", created_at: 1, status: "completed", model: "gpt-4o",
        output: call
          ? [{ type: "function_call", id: "fc_1", call_id: "call_1", name: tool, arguments: JSON.stringify(args), status: "completed" }]
          : [{ type: "message", id: "msg_1", status: "completed", role: "assistant", content: [{ type: "output_text", text: "done", annotations: [] }] }],
        usage: { input_tokens: 1, output_tokens: 1, total_tokens: 2 },
      });
    }
    if (api === "openai-chat") {
      return json({
        id: "chatcmpl-1", object: "chat.completion", created: 1, model: "gpt-4o",
        choices: [{
          index: 0, finish_reason: call ? "tool_calls" : "stop",
          message: call
            ? { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: tool, arguments: JSON.stringify(args) } }] }
            : { role: "assistant", content: "done" },
        }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      });
    }
    return json({
      id: `msg_${sent.length}`, type: "message", role: "assistant", model: "claude-sonnet-4-5",
      content: call ? [{ type: "tool_use", id: "toolu_1", name: tool, input: args }] : [{ type: "text", text: "done" }],
      stop_reason: call ? "tool_use" : "end_turn", stop_sequence: null, usage: { input_tokens: 1, output_tokens: 1 },
    });
  };
  return { fetch: f as typeof fetch, sent };
}

// ---------------------------------------------------------------- what the provider APIs accept

type Part = Record<string, unknown>;

/** The tool result in a recorded request body (the last one of its kind). */
export function toolResultOf(api: Api, body: Record<string, unknown>): unknown {
  if (api === "openai-responses") {
    const input = body.input as Part[];
    return input.filter((i) => i.type === "function_call_output").at(-1);
  }
  const messages = body.messages as Part[];
  if (api === "openai-chat") return messages.filter((m) => m.role === "tool").at(-1);
  const blocks = messages.flatMap((m) => (Array.isArray(m.content) ? (m.content as Part[]) : []));
  return blocks.filter((b) => b.type === "tool_result").at(-1);
}

const ANTHROPIC_IMAGE_TYPES = ["image/jpeg", "image/png", "image/gif", "image/webp"];

/** What the real API would reject, per its SDK's request types (openai 6/7, @anthropic-ai/sdk). */
export function assertProviderAccepts(api: Api, result: unknown, what: string): void {
  assert.ok(result && typeof result === "object", `${what}: no tool result in the request`);
  const r = result as Part;
  if (api === "openai-chat") {
    // ChatCompletionToolMessageParam.content: string | Array<ChatCompletionContentPartText>
    const c = r.content;
    assert.ok(typeof c === "string" || (Array.isArray(c) && c.every((p: Part) => p.type === "text" && typeof p.text === "string")), `${what}: a Chat Completions tool message may only hold text: ${JSON.stringify(c).slice(0, 300)}`);
  } else if (api === "openai-responses") {
    // FunctionCallOutput.output: string | Array<input_text | input_image | input_file>
    const o = r.output;
    if (typeof o !== "string") {
      assert.ok(Array.isArray(o), `${what}: output must be a string or a list`);
      for (const p of o as Part[]) {
        assert.ok(["input_text", "input_image", "input_file"].includes(String(p.type)), `${what}: output part type ${String(p.type)}`);
        if (p.type === "input_image") assert.match(String(p.image_url), /^(data:image\/(png|jpeg|gif|webp);base64,|https:\/\/)/, `${what}: input_image needs a data URL or https URL`);
        if (p.type === "input_file") assert.ok(p.file_data || p.file_id || /^https:\/\//.test(String(p.file_url)), `${what}: input_file needs file_data, file_id or an https file_url: ${JSON.stringify(p).slice(0, 200)}`);
      }
    }
  } else {
    // ToolResultBlockParam.content: string | Array<TextBlockParam | ImageBlockParam | …>
    const c = r.content;
    if (typeof c !== "string" && c !== undefined) {
      for (const p of c as Part[]) {
        assert.ok(["text", "image", "document", "search_result"].includes(String(p.type)), `${what}: tool_result part type ${String(p.type)}`);
        if (p.type === "image") {
          const src = p.source as Part;
          assert.equal(src.type, "base64", `${what}: image source ${String(src.type)} (a mesh:// URL cannot be fetched by the API)`);
          assert.ok(ANTHROPIC_IMAGE_TYPES.includes(String(src.media_type)), `${what}: media_type ${String(src.media_type)}`);
          // The API checks the bytes against media_type.
          if (String(src.data).startsWith("iVBORw0KGgo")) assert.equal(src.media_type, "image/png", `${what}: PNG data labelled ${String(src.media_type)}`);
        }
      }
    }
  }
}

/** Every string in a request part, with JSON-in-strings unpacked (providers nest JSON text). */
export function textIn(v: unknown, out: string[] = []): string {
  if (typeof v === "string") {
    out.push(v);
    if (/^\s*[[{"]/.test(v)) {
      try {
        textIn(JSON.parse(v) as unknown, out);
      } catch {
        // plain text
      }
    }
  } else if (Array.isArray(v)) for (const x of v) textIn(x, out);
  else if (v && typeof v === "object") for (const x of Object.values(v)) textIn(x, out);
  return out.join("\n");
}
