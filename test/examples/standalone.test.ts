/**
 * The examples as programs: environment handling, and real child processes that
 * serve, answer, and exit 0 on SIGTERM/SIGINT.
 *
 * The children run through the tsx CLI (what `npx tsx examples/x.ts` runs), not
 * through npx itself: npm does not forward a SIGTERM sent to its own pid (the node
 * would be orphaned) and, when the whole process group is signalled, npm dies of the
 * signal (exit 143) even though the example closed cleanly and exited 0. They get
 * TSX_TSCONFIG_PATH=examples/tsconfig.dev.json so "mesh-mcp" resolves to src/ and no
 * build is needed.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { fileURLToPath } from "node:url";
import { Mesh, NoRespondersError } from "../../src/mesh/index.js";
import { NatsServer, freePort } from "../helpers/nats-server.js";
import "./helpers.js";

const { DEFAULT_NATS_URL, readEnv, sanitiseNodeName } = await import("../../examples/common.js");

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const TSX = `${ROOT}node_modules/.bin/tsx`;

interface Child {
  proc: ChildProcess;
  stdout: string;
  stderr: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function runExample(file: string, env: Record<string, string>): Child {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, TSX_TSCONFIG_PATH: "examples/tsconfig.dev.json", ...env };
  if (!("MESH_NODE" in env)) delete childEnv.MESH_NODE;
  const proc = spawn(TSX, [file], { cwd: ROOT, env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
  const child: Child = {
    proc,
    stdout: "",
    stderr: "",
    exited: new Promise((resolve) => proc.once("exit", (code, signal) => resolve({ code, signal }))),
  };
  proc.stdout!.on("data", (d) => (child.stdout += String(d)));
  proc.stderr!.on("data", (d) => (child.stderr += String(d)));
  return child;
}

/** Resolves once the child logged "ready:"; rejects if it exits first or takes too long. */
async function waitReady(child: Child, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void child.exited.then(() => (exited = true));
  while (!child.stderr.includes("ready:")) {
    if (exited) throw new Error(`example exited before it was ready:\n${child.stderr}`);
    if (Date.now() > deadline) throw new Error(`example not ready within ${timeoutMs} ms:\n${child.stderr}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function stop(child: Child, signal: NodeJS.Signals) {
  child.proc.kill(signal);
  return child.exited;
}

describe("examples/common: environment", () => {
  test("node names become one subject token", () => {
    assert.equal(sanitiseNodeName("build-box.example.com"), "build-box-example-com");
    assert.equal(sanitiseNodeName(" Jane's MacBook Pro.local "), "Jane's-MacBook-Pro-local");
    assert.equal(sanitiseNodeName("a..b\t c"), "a-b-c");
    assert.equal(sanitiseNodeName("*>"), "node");
  });

  test("NATS_URL and MESH_NODE with their defaults", () => {
    assert.deepEqual(readEnv({}, "host.lan"), { natsUrl: DEFAULT_NATS_URL, node: "host-lan" });
    assert.equal(DEFAULT_NATS_URL, "nats://localhost:4222");
    assert.deepEqual(readEnv({ NATS_URL: " nats://a:1,nats://b:2 ", MESH_NODE: " n7 " }, "host"), {
      natsUrl: "nats://a:1,nats://b:2",
      node: "n7",
    });
    assert.deepEqual(readEnv({ NATS_URL: "", MESH_NODE: "" }, "h"), { natsUrl: DEFAULT_NATS_URL, node: "h" });
  });
});

describe("examples use the library as users do", () => {
  test("imports are only mesh-mcp, sibling examples and node: built-ins", () => {
    const dir = `${ROOT}examples/`;
    const files = readdirSync(dir).filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"));
    assert.ok(files.length >= 6, files.join(", "));
    for (const f of files) {
      const specifiers = [...readFileSync(dir + f, "utf8").matchAll(/^\s*(?:import|export)\b[^;]*?from\s+"([^"]+)"/gm)].map((m) => m[1]!);
      for (const spec of specifiers) {
        assert.ok(spec === "mesh-mcp" || /^\.\/[\w-]+\.js$/.test(spec) || spec.startsWith("node:"), `${f} imports ${spec}`);
      }
    }
  });
});

describe("examples as programs", () => {
  let srv: NatsServer;
  let client: Mesh;
  before(async () => {
    srv = await NatsServer.start();
    client = await Mesh.connect({ servers: srv.url });
  });
  after(async () => {
    await client.close();
    await srv.stop();
  });

  test("calculator.ts serves as MESH_NODE, logs to stderr only, exits 0 on SIGTERM", async () => {
    const child = runExample("examples/calculator.ts", { NATS_URL: srv.url, MESH_NODE: "calc-child" });
    try {
      await waitReady(child);
      const r = await client.call("calculator", "add", { a: 20, b: 22 }, { node: "calc-child" });
      assert.deepEqual(r, { ok: true, result: 42, node: "calc-child" });
      const div = await client.call("calculator", "divide", { a: 1, b: 0 });
      assert.equal(div.error, "division by zero: b must not be 0");
    } finally {
      const { code, signal } = await stop(child, "SIGTERM");
      assert.equal(signal, null, child.stderr);
      assert.equal(code, 0, child.stderr);
    }
    assert.equal(child.stdout, "", "nothing on stdout");
    assert.match(child.stderr, /SIGTERM: closing/);
    assert.match(child.stderr, /\] info: closed/);
    // The services went away with the process.
    await assert.rejects(client.call("calculator", "add", { a: 1, b: 1 }, { timeoutMs: 2000 }), NoRespondersError);
  });

  test("all.ts serves every tool once under the host-name node, exits 0 on SIGINT", async () => {
    const child = runExample("examples/all.ts", { NATS_URL: srv.url });
    try {
      await waitReady(child);
      const services = await client.listServices();
      // Exactly one instance each: the imported examples did not start nodes of their own.
      assert.deepEqual(services.map((s) => s.name).sort(), ["calculator", "counter", "files", "image", "slow"]);
      const node = sanitiseNodeName(hostname());
      for (const s of services) assert.equal(s.metadata?.node, node);
      const frames = [];
      for await (const f of client.stream("counter", "count", { n: 3, delay_ms: 0 })) frames.push(f);
      assert.equal(frames.length, 4);
    } finally {
      const { code, signal } = await stop(child, "SIGINT");
      assert.equal(signal, null, child.stderr);
      assert.equal(code, 0, child.stderr);
    }
    assert.equal(child.stdout, "");
  });

  test("an unreachable NATS_URL exits 1 with a message", async () => {
    const url = `nats://127.0.0.1:${await freePort()}`;
    const child = runExample("examples/slow-tool.ts", { NATS_URL: url, MESH_NODE: "x" });
    const { code } = await child.exited;
    assert.equal(code, 1);
    assert.ok(child.stderr.includes(`cannot connect to NATS at ${url}`), child.stderr);
    assert.equal(child.stdout, "");
  });
});
