/**
 * `npm run demo`: a private nats-server with JetStream, the example nodes, and
 * mesh-mcp over HTTP on 127.0.0.1; prints how to connect. Ctrl-C stops all of it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startEmbeddedNats, type EmbeddedNats } from "./embedded-nats.js";

const here = dirname(fileURLToPath(import.meta.url)); // dist/
const say = (s = "") => process.stdout.write(s + "\n");
/** The MCP Inspector line the demo suggests (test/mcp/inspector.test.ts runs that release, with --header). */
const INSPECTOR_MAJOR = 2;

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

function waitForLine(child: ChildProcess, re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${re} (output so far: ${buf.slice(-500)})`)), timeoutMs);
    const onData = (d: Buffer) => {
      buf += String(d);
      const m = buf.match(re);
      if (m) {
        clearTimeout(t);
        child.stderr?.off("data", onData);
        resolve(m);
      }
    };
    child.stderr?.on("data", onData);
    child.once("exit", (code) => reject(new Error(`exited with code ${code} before it was ready: ${buf.slice(-500)}`)));
  });
}

/**
 * The children's stderr, as one readable live log on the demo's stderr: `12:00:01 [server] call
 * calculator.add ok in 3 ms`. Levels other than info are kept; the ISO date is shortened.
 */
function forwardLog(child: ChildProcess, label: string): void {
  if (!child.stderr) return;
  createInterface({ input: child.stderr }).on("line", (line) => {
    // mesh-mcp: `<iso> LEVEL   message`; example nodes: `<iso> [label] level: message`.
    const m = /^\d{4}-\d\d-\d\dT(\d\d:\d\d:\d\d)\.\d+Z\s+(?:\[[^\]]*\]\s+)?(\w+):?\s+(.*)$/.exec(line);
    const [time, level, text] = m ? [m[1]!, m[2]!.toLowerCase(), m[3]!] : [new Date().toISOString().slice(11, 19), "info", line];
    process.stderr.write(`${time} [${label}] ${level === "info" ? "" : `${level}: `}${text}\n`);
  });
}

async function main(): Promise<void> {
  const children: ChildProcess[] = [];
  let nats: EmbeddedNats | undefined;
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say("\nstopping the demo…");
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const t = setTimeout(() => c.kill("SIGKILL"), 5000);
            c.once("exit", () => (clearTimeout(t), resolve()));
            c.kill("SIGTERM");
          }),
      ),
    );
    await nats?.stop();
    say("stopped: nothing of the demo is left running.");
    process.exit(code);
  };
  process.on("SIGINT", () => void stop(0));
  process.on("SIGTERM", () => void stop(0));

  try {
    nats = await startEmbeddedNats({ port: (await portFree(4222)) ? 4222 : undefined });
  } catch (err) {
    process.stderr.write(`demo: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const env = { ...process.env, NATS_URL: nats.url, MESH_NODE: "demo-node" };

  const nodes = spawn(process.execPath, [join(here, "examples", "all.js")], { env: { ...env, MESH_LOG_CALLS: "1" }, stdio: ["ignore", "ignore", "pipe"] });
  forwardLog(nodes, "node");
  children.push(nodes);
  const port = (await portFree(3000)) ? 3000 : 0;
  const server = spawn(
    process.execPath,
    [join(here, "cli.js"), "--transport", "http", "--host", "127.0.0.1", "--port", String(port), "--nats", nats.url, "--allow-dir", process.cwd(), "--log-calls"],
    { env, stdio: ["ignore", "ignore", "pipe"] },
  );
  forwardLog(server, "server");
  children.push(server);
  for (const c of children) {
    c.once("exit", (code, signal) => {
      if (!stopping) {
        process.stderr.write(`demo: a child process exited (${code ?? signal}); stopping everything\n`);
        void stop(1);
      }
    });
  }
  try {
    // Both listen from now on: the server may print its URL before the nodes are ready.
    const [, m] = await Promise.all([
      waitForLine(nodes, /registered|ready|serving/i, 15_000),
      waitForLine(server, /(http:\/\/127\.0\.0\.1:\d+\/mcp)/, 15_000),
    ]);
    const url = m[1]!;
    // Wait until the catalog has the example tools, so the first tools/list is complete.
    const ready = url.replace(/\/mcp$/, "/readyz");
    for (let i = 0; i < 100 && !(await fetch(ready).then((r) => r.ok, () => false)); i++) await new Promise((r) => setTimeout(r, 100));
    const cli = join(here, "cli.js");
    say("");
    say("mesh-mcp demo is running");
    say(`  NATS (JetStream)  ${nats.url}`);
    say("  mesh node         demo-node: calculator, counter, image, slow, files");
    say(`  MCP endpoint      ${url}`);
    say(`  Status page       ${url.replace(/\/mcp$/, "/status")}   (open it in a browser: nodes, calls, failures, live)`);
    say("");
    say("Try it with the MCP Inspector (in another terminal; against a server with --auth-token add --header \"Authorization: Bearer <token>\"):");
    say(`  npx -y @modelcontextprotocol/inspector@${INSPECTOR_MAJOR} --cli ${url} --transport http --method tools/list`);
    say(`  npx -y @modelcontextprotocol/inspector@${INSPECTOR_MAJOR} --cli ${url} --transport http --method tools/call --tool-name calculator__add --tool-arg a=2 --tool-arg b=40`);
    say("");
    say("Claude Code:");
    say(`  claude mcp add --transport http mesh-demo ${url}`);
    say("");
    say("Claude Desktop (claude_desktop_config.json), stdio against the demo's NATS:");
    say(JSON.stringify({ mcpServers: { mesh: { command: process.execPath, args: [cli], env: { NATS_URL: nats.url } } } }, null, 2).replace(/^/gm, "  "));
    say("");
    say("Ctrl-C stops everything. The live log of calls, cancels and errors (server and node) follows:");
  } catch (err) {
    process.stderr.write(`demo: ${(err as Error).message}\n`);
    await stop(1);
  }
}

void main();
