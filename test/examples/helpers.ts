/**
 * Shared fixture of the example tests: a real nats-server, a serving Mesh (node
 * "ex1") with an example registered, and a client Mesh.
 *
 * The examples import the library as users do (`from "mesh-mcp"`), which Node
 * resolves to the built package (dist/). Importing this module first installs a
 * resolve hook that sends "mesh-mcp" to src/mesh/index.ts instead, so the tests run
 * the source without a build, and examples and tests share one library instance.
 * Import the examples themselves dynamically (`await import(...)`) after this module:
 * static imports are resolved before any hook can be installed.
 */
import { register } from "node:module";
import { Mesh } from "../../src/mesh/index.js";
import { NatsServer } from "../helpers/nats-server.js";

const SRC_INDEX = new URL("../../src/mesh/index.ts", import.meta.url).href;
const HOOKS = `export async function resolve(specifier, context, next) {
  return next(specifier === "mesh-mcp" ? ${JSON.stringify(SRC_INDEX)} : specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(HOOKS)}`);

export const NODE = "ex1";

export interface Fixture {
  srv: NatsServer;
  node: Mesh;
  client: Mesh;
  close(): Promise<void>;
}

/** Starts nats-server, connects a node mesh, runs `registerFn` on it, connects a client. */
export async function startFixture(registerFn: (mesh: Mesh) => Promise<void>): Promise<Fixture> {
  const srv = await NatsServer.start();
  const node = await Mesh.connect({ servers: srv.url, node: NODE });
  const client = await Mesh.connect({ servers: srv.url });
  try {
    await registerFn(node);
  } catch (err) {
    await client.close();
    await node.close();
    await srv.stop();
    throw err;
  }
  return {
    srv,
    node,
    client,
    async close() {
      await client.close();
      await node.close();
      await srv.stop();
    },
  };
}

/** The published schema of `tool.method` as found by one `$SRV.INFO` discovery pass. */
export async function publishedSchema(client: Mesh, tool: string, method: string): Promise<Record<string, unknown>> {
  const services = await client.listServices();
  const svc = services.find((s) => s.name === tool);
  if (!svc) throw new Error(`service ${tool} not discovered (found: ${services.map((s) => s.name).join(", ")})`);
  const ep = svc.endpoints?.find((e) => e.name === method);
  const raw = ep?.metadata?.schema;
  if (!raw) throw new Error(`${tool}.${method} publishes no schema`);
  return JSON.parse(raw) as Record<string, unknown>;
}
