/**
 * Strict mode (OpenAI structured tool calls) makes every property required. Our tool
 * schemas, converted by the frameworks' own converters — LangChain Python's
 * convert_to_openai_tool(strict=True) and openai-agents' ensure_strict_json_schema —
 * must leave the model free not to pin a call to a node: without --node-arg there is
 * no `_node` at all; with it, `_node` is required but nullable, and null reaches
 * mesh-mcp as "any node". (The TS frameworks in devDependencies — LangChain.js's
 * convertToOpenAITool, the AI SDK — only set the `strict` flag and pass the schema on.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Ajv } from "ajv";
import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import { mcpEnv, registerCalculator, textOf } from "../helpers/mcp.js";
import { runPython } from "../python/venv.js";

const T = { timeout: 90_000 };

interface Converted {
  langchain: Record<string, unknown>;
  langchain_strict?: boolean;
  agents?: Record<string, unknown>;
  agents_error?: string;
}

async function convert(tools: Tool[]): Promise<Record<string, Converted>> {
  return JSON.parse(await runPython("strict_convert.py", [], JSON.stringify(tools))) as Record<string, Converted>;
}

/** What a strict-mode model may send for calculator__add without choosing a node: every required property, `_node` null. */
function unpinnedArgs(schema: Record<string, unknown>): Record<string, unknown> {
  const args: Record<string, unknown> = { a: 1, b: 2 };
  for (const p of (schema.required as string[] | undefined) ?? []) if (p === "_node") args._node = null;
  return args;
}

const ajv = new Ajv({ strict: false });

test("strict-mode conversions (LangChain, openai-agents) leave pinning optional, with and without --node-arg", T, async (t) => {
  const env = await mcpEnv(t);
  const calls: Array<{ method: string; params: unknown; node: string }> = [];
  const [n1, n2] = await Promise.all([env.node("n1"), env.node("n2")]);
  await registerCalculator(n1, calls);
  await registerCalculator(n2, calls);

  for (const args of [[], ["--node-arg"]]) {
    const label = args.length ? "--node-arg" : "default";
    const client = await env.client({ args });
    const tools = await client.waitForTools(["calculator__add"]);
    const mesh = tools.filter((x) => !x.name.startsWith("mesh_"));
    const converted = await convert(mesh);
    for (const tool of mesh) {
      const c = converted[tool.name]!;
      assert.equal(c.langchain_strict, true);
      for (const [who, schema] of [["langchain", c.langchain], ["openai-agents", c.agents]] as const) {
        assert.ok(schema, `${label}: ${who} converted ${tool.name} (${c.agents_error ?? ""})`);
        const props = (schema.properties ?? {}) as Record<string, { type?: unknown }>;
        if (!args.length) {
          assert.equal(props._node, undefined, `${label}/${who}/${tool.name}: no _node to be made required`);
          continue;
        }
        // Strict: every property required, _node included; but null is one of its types.
        assert.ok((schema.required as string[]).includes("_node"), `${who} made _node required (strict rules), so it must be nullable`);
        assert.deepEqual(props._node?.type, ["string", "null"], `${label}/${who}/${tool.name}: _node stays nullable`);
      }
    }
    // The model's unpinned call is valid under each converted schema, and mesh-mcp runs it on any node.
    for (const who of ["langchain", "agents"] as const) {
      const schema = converted.calculator__add![who]!;
      const modelArgs = unpinnedArgs(schema);
      assert.ok(ajv.validate(schema, modelArgs), `${label}/${who}: ${JSON.stringify(modelArgs)} is valid: ${ajv.errorsText()}`);
      calls.length = 0;
      for (let i = 0; i < 6; i++) {
        const r = await client.call("calculator__add", modelArgs);
        assert.equal(r.isError, undefined, textOf(r));
        assert.equal(textOf(r), "3");
      }
      assert.deepEqual(new Set(calls.map((c) => c.node)), new Set(["n1", "n2"]), `${label}/${who}: unpinned calls are spread over both nodes`);
      assert.ok(calls.every((c) => !("_node" in (c.params as object))), "_node never reaches the node");
    }
    // Pinning stays possible: the argument, and _meta "mesh-mcp/node" for programs.
    calls.length = 0;
    for (let i = 0; i < 4; i++) assert.equal(textOf(await client.call("calculator__add", { a: 1, b: 2, _node: "n2" })), "3");
    for (let i = 0; i < 4; i++) {
      const r = await client.client.callTool({ name: "calculator__add", arguments: { a: 1, b: 2 }, _meta: { "mesh-mcp/node": "n1" } });
      assert.equal(textOf(r as never), "3");
    }
    assert.deepEqual(calls.map((c) => c.node), ["n2", "n2", "n2", "n2", "n1", "n1", "n1", "n1"]);
  }

  // The control: the old design (a `_node` enum of node names, optional) comes out of the same
  // converters required and not nullable: a strict-mode model would have to pin every call.
  const old: Tool = { name: "old__add", inputSchema: { type: "object", properties: { a: { type: "number" }, _node: { type: "string", enum: ["n1", "n2"] } }, required: ["a"] } };
  const c = (await convert([old])).old__add!;
  for (const schema of [c.langchain, c.agents!]) {
    assert.ok((schema.required as string[]).includes("_node"));
    assert.equal(ajv.validate(schema, { a: 1, _node: null }), false, "the old _node cannot be left out or null");
  }
});
