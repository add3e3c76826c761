/**
 * Horizontal scale on the 2026-07-28 path: nothing is kept between requests, so two
 * mesh-mcp processes behind a round-robin balancer serve one client interchangeably —
 * listing, calling, streaming with progress and cancelling, request by request.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { meshWithTools, startCli, waitFor } from "../http/helpers.js";

test("two mesh-mcp processes, requests alternating between them", { timeout: 60_000 }, async (t) => {
  const env = await meshWithTools(t);
  const a = await startCli(t, ["--nats", env.nats.url]);
  const b = await startCli(t, ["--nats", env.nats.url]);
  const backends = [a.url, b.url];
  const served: string[] = [];
  let next = 0;
  // The balancer: each HTTP request goes to the next process in turn.
  const roundRobin = (_url: string | URL, init?: RequestInit) => {
    const target = backends[next++ % backends.length]!;
    served.push(target);
    return fetch(target, init);
  };
  const client = new Client({ name: "scale-2026", version: "1" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
  await client.connect(new StreamableHTTPClientTransport(new URL(a.url), { fetch: roundRobin }));
  t.after(() => client.close().catch(() => {}));

  for (let i = 0; i < 4; i++) {
    const names = (await client.listTools(undefined, { cacheMode: "bypass" } as never)).tools.map((x) => x.name);
    assert.ok(names.includes("calc__add"), `list ${i}`);
    const r = await client.callTool({ name: "calc__add", arguments: { a: i, b: 1 } });
    assert.equal((r.content[0] as { text: string }).text, String(i + 1));
  }
  for (let i = 0; i < 2; i++) {
    const progress: number[] = [];
    const r = await client.callTool({ name: "slow__count", arguments: { n: 4 } }, { onprogress: (p) => progress.push(p.progress) });
    assert.deepEqual(r.structuredContent, { counted: 4 });
    assert.deepEqual(progress, [1, 2, 3, 4], `stream ${i}: every progress`);
  }
  const cancels: string[] = [];
  const sub = env.node.nc.subscribe("cancel.*", { callback: (_e, m) => void cancels.push(m.subject) });
  t.after(() => sub.unsubscribe());
  await env.node.nc.flush();
  for (let i = 0; i < 2; i++) {
    const ac = new AbortController();
    const call = client.callTool({ name: "slow__wait", arguments: { ms: 60_000 } }, { signal: ac.signal });
    const callId = await env.slowStarted();
    ac.abort();
    await assert.rejects(call);
    await waitFor(() => cancels.includes(`cancel.${callId}`), `cancel ${i} reaches the mesh`);
  }
  for (const url of backends) assert.ok(served.filter((s) => s === url).length >= 6, `${url} served its share: ${served.length} requests`);
});
