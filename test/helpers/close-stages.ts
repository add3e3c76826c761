/**
 * Opens and closes a bridge (connect → catalog → file-store watch) and bare meshes
 * (connect → watch) many times, closing at a different moment of start-up each time,
 * then simply returns. Run as a child process: if anything it started is left behind
 * (a JetStream heartbeat timer, a subscription, a socket), the process never exits.
 * Usage: node --import tsx test/helpers/close-stages.ts <nats url> <rounds>
 */
import { Bridge } from "../../src/mcp/bridge.js";
import { Logger } from "../../src/mcp/log.js";
import { Mesh } from "../../src/mesh/index.js";

const [url, roundsArg] = process.argv.slice(2);
const rounds = Number(roundsArg ?? 20);
const log = new Logger("error");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (let i = 0; i < rounds; i++) {
  // Spread the close over start-up: 0 ms (still importing/connecting) … ~120 ms (watch running).
  const delay = (i * 7) % 120;
  const bridge = new Bridge({ mesh: { servers: url } }, log);
  bridge.start();
  await sleep(delay);
  await bridge.shutdown();

  const mesh = await Mesh.connect({ servers: url });
  const watching = (async () => {
    for await (const _ of mesh.files.watch()) void _;
  })().catch(() => {});
  void mesh.catalog().catch(() => {});
  await sleep(delay % 40);
  await mesh.close();
  await watching;
}
process.stdout.write(`closed ${rounds * 2} times\n`);
// Whatever is still alive now keeps the process from exiting: name it for the test's message.
setTimeout(() => {
  process.stderr.write(`still alive: ${JSON.stringify(process.getActiveResourcesInfo())}\n`);
}, 3000).unref();
