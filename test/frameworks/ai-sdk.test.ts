/**
 * Vercel AI SDK: the `@ai-sdk/mcp` client over mesh-mcp's HTTP endpoint, its tools run
 * by `generateText` in a real agent loop: the fake provider asks for the tool, the SDK
 * calls it through MCP, and the next request (what the real OpenAI or Anthropic API
 * would receive) must carry the result in a form the API accepts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createMCPClient } from "@ai-sdk/mcp";
import { generateText, stepCountIs } from "ai";
import { createOpenAI } from "@ai-sdk/openai";
import { createAnthropic } from "@ai-sdk/anthropic";
import { assertProviderAccepts, fakeProvider, frameworkFixture, PNG_B64, textIn, toolResultOf, type Api } from "./fixture.js";

function model(api: Api, fetch: typeof globalThis.fetch) {
  if (api === "anthropic") return createAnthropic({ apiKey: "test", fetch })("claude-sonnet-4-5");
  const openai = createOpenAI({ apiKey: "test", fetch });
  return api === "openai-chat" ? openai.chat("gpt-4o") : openai("gpt-4o");
}

test("AI SDK (@ai-sdk/mcp + generateText → OpenAI, Anthropic): every kind of result reaches the provider in a form it accepts", { timeout: 90_000 }, async (t) => {
  const fx = await frameworkFixture(t);
  const mcp = await createMCPClient({ transport: { type: "http", url: fx.url } });
  t.after(() => mcp.close());
  const tools = await mcp.tools();
  for (const c of fx.cases) {
    assert.ok(tools[c.tool], `the AI SDK did not get the tool ${c.tool}`);
    for (const api of ["openai-responses", "openai-chat", "anthropic"] as const) {
      const what = `${c.kind} → ${api}`;
      const provider = fakeProvider(api, c.tool, c.args);
      const r = await generateText({ model: model(api, provider.fetch), tools, prompt: "use the tool", stopWhen: stepCountIs(2), maxRetries: 0 });
      assert.equal(r.text, "done", what);
      assert.equal(provider.sent.length, 2, `${what}: the SDK ran the tool and asked the model again`);
      const result = toolResultOf(api, provider.sent[1]!);
      assertProviderAccepts(api, result, what);
      assert.match(textIn(result), c.expect, `${what}: ${JSON.stringify(result).slice(0, 400)}`);
      // The image reaches the model as an image where the API takes one (Chat Completions: as JSON text).
      if (c.image) {
        assert.ok(textIn(result).includes(PNG_B64), `${what}: the image is missing`);
        const part = { "openai-responses": '"type":"input_image"', anthropic: '"type":"image"', "openai-chat": "" }[api];
        assert.ok(JSON.stringify(result).includes(part), `${what}: not sent as an image part`);
      }
    }
  }
});
