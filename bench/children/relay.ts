/**
 * The floor of any stdio or HTTP bridge to NATS: no MCP, no JSON-RPC, no SDK. Each
 * stdin line (or HTTP POST body) is sent as-is with nc.request to `--subject`, and
 * the reply goes back as one stdout line (or the HTTP response body). The call
 * overhead benchmark measures it beside mesh-mcp, so the cost of the extra process
 * hop itself is visible.
 *
 *   node --import tsx bench/children/relay.ts --nats URL [--http]   (prints `ready [url]`)
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";

const { values } = parseArgs({
  options: { nats: { type: "string" }, subject: { type: "string", default: "tools.bench.echo" }, http: { type: "boolean", default: false } },
});
const nc = await connect({ servers: values.nats });
// Exit (not die) on SIGTERM, so a `--cpu-prof` run writes its profile.
process.once("SIGTERM", () => process.exit(0));
const subject = values.subject;

if (values.http) {
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (d: Buffer) => parts.push(d));
    req.on("end", () => {
      nc.request(subject, Buffer.concat(parts), { timeout: 10_000 }).then(
        (msg) => {
          res.writeHead(200, { "content-type": "application/json", "content-length": msg.data.length });
          res.end(msg.data);
        },
        (err: Error) => {
          res.writeHead(502);
          res.end(err.message);
        },
      );
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, "127.0.0.1", () => process.stdout.write(`ready http://127.0.0.1:${(server.address() as AddressInfo).port}/\n`));
} else {
  const rl = createInterface({ input: process.stdin });
  rl.on("line", (line) => {
    nc.request(subject, line, { timeout: 10_000 }).then(
      (msg) => process.stdout.write(`${msg.string()}\n`),
      (err: Error) => process.stdout.write(`${JSON.stringify({ ok: false, error: err.message })}\n`),
    );
  });
  rl.on("close", () => void nc.close().finally(() => process.exit(0)));
  process.stdout.write("ready\n");
}
