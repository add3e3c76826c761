/** TLS to a real nats-server with a CA made for the test (openssl), and nkey auth. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nkeys } from "@nats-io/transport-node";
import { Mesh, NotConnectedError } from "../../src/mesh/index.js";
import { NatsServer } from "../helpers/nats-server.js";

function makeCerts(): { dir: string; ca: string; cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), "mesh-mcp-tls-"));
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
  run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=mesh-mcp test CA");
  run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost");
  writeFileSync(join(dir, "ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "1", "-extfile", "ext.cnf");
  return { dir, ca: join(dir, "ca.pem"), cert: join(dir, "server.pem"), key: join(dir, "server.key") };
}

test("TLS: with the CA the mesh connects and calls work; without it the error names the URL", { timeout: 30_000 }, async (t) => {
  const c = makeCerts();
  const srv = await NatsServer.start({ args: ["--tls", "--tlscert", c.cert, "--tlskey", c.key] });
  t.after(() => srv.stop());
  const node = await Mesh.connect({ servers: srv.url, node: "n1", tls: { caFile: c.ca } });
  t.after(() => node.close());
  await node.registerTool({ name: "echo", methods: { say: { handler: (p) => p.text } } });
  const client = await Mesh.connect({ servers: srv.url, tls: { caFile: c.ca } });
  t.after(() => client.close());
  assert.equal((await client.call("echo", "say", { text: "over tls" })).result, "over tls");

  await assert.rejects(Mesh.connect({ servers: srv.url, connectTimeoutMs: 2000 }), (err: unknown) => {
    assert.ok(err instanceof NotConnectedError, String(err));
    assert.match(err.message, new RegExp(srv.url.replace(/[.]/g, "\\.")));
    return true;
  });
});

test("nkey auth: a seed (or a file holding it) authenticates; another seed is refused", { timeout: 30_000 }, async (t) => {
  const kp = nkeys.createUser();
  const seed = new TextDecoder().decode(kp.getSeed());
  const dir = mkdtempSync(join(tmpdir(), "mesh-mcp-nkey-"));
  writeFileSync(join(dir, "nats.conf"), `authorization { users = [ { nkey: ${kp.getPublicKey()} } ] }\n`);
  writeFileSync(join(dir, "user.nk"), seed + "\n");
  const srv = await NatsServer.start({ args: ["-c", join(dir, "nats.conf")] });
  t.after(() => srv.stop());
  for (const nkeySeed of [seed, join(dir, "user.nk")]) {
    const m = await Mesh.connect({ servers: srv.url, nkeySeed });
    assert.equal(m.connected, true);
    await m.close();
  }
  const other = new TextDecoder().decode(nkeys.createUser().getSeed());
  await assert.rejects(Mesh.connect({ servers: srv.url, nkeySeed: other, connectTimeoutMs: 2000 }), NotConnectedError);
});
