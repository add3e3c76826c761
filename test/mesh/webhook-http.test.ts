/**
 * The webhook security file (mesh/events/webhook-http.ts): which addresses count as
 * not globally routable, URL checks, the whsec_ secret form, Standard Webhooks
 * signatures, the challenge echo, and a delivery that must not follow a redirect.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { CallbackUrlError, challengeMatches, isSpecialAddress, parseCallbackUrl, postSigned, resolveCallback, secretKey, sign } from "../../src/mesh/index.js";

test("special-purpose addresses are refused, public ones are not", () => {
  for (const a of ["127.0.0.1", "127.8.9.1", "10.0.0.1", "172.16.5.4", "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "198.18.0.1",
    "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:7f00:1", "0:0:0:0:0:ffff:7f00:1", "::ffff:a9fe:a9fe", "2001:db8::1", "not-an-ip"]) {
    assert.equal(isSpecialAddress(a), true, a);
  }
  for (const a of ["8.8.8.8", "1.1.1.1", "172.32.0.1", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8", "::ffff:808:808"]) assert.equal(isSpecialAddress(a), false, a);
});

test("callback URLs: https only unless allowed, no credentials, loopback names and addresses refused unless allowed", async () => {
  assert.throws(() => parseCallbackUrl("http://example.com/x", {}), /https.*--events-webhook-allow-http/);
  assert.equal(parseCallbackUrl("http://example.com/x", { allowHttp: true }).host, "example.com");
  assert.throws(() => parseCallbackUrl("ftp://example.com/x", { allowHttp: true }), CallbackUrlError);
  assert.throws(() => parseCallbackUrl("https://u:p@example.com/x", {}), /credentials/);
  assert.throws(() => parseCallbackUrl("not a url", {}), /not a URL/);
  await assert.rejects(resolveCallback(new URL("https://127.0.0.1/x"), {}), /--events-webhook-allow-private/);
  await assert.rejects(resolveCallback(new URL("https://[::1]/x"), {}), /--events-webhook-allow-private/);
  await assert.rejects(resolveCallback(new URL("https://localhost/x"), {}), /loopback/);
  assert.equal((await resolveCallback(new URL("https://127.0.0.1/x"), { allowPrivate: true })).address, "127.0.0.1");
});

test("secrets are whsec_ + base64 of 24..64 bytes; signatures are Standard Webhooks v1 HMAC-SHA256", () => {
  assert.equal(secretKey("hunter2"), undefined);
  assert.equal(secretKey(`whsec_${randomBytes(16).toString("base64")}`), undefined, "too short");
  assert.equal(secretKey(`whsec_${randomBytes(65).toString("base64")}`), undefined, "too long");
  const s = `whsec_${randomBytes(32).toString("base64")}`;
  assert.equal(secretKey(s)!.length, 32);
  const expected = createHmac("sha256", Buffer.from(s.slice(6), "base64")).update("msg_1.1700000000.{\"a\":1}").digest("base64");
  assert.equal(sign(s, "msg_1", 1700000000, "{\"a\":1}"), `v1,${expected}`);
  assert.equal(challengeMatches('{"challenge":"abc"}', "abc"), true);
  assert.equal(challengeMatches('{"challenge":"abd"}', "abc"), false);
  assert.equal(challengeMatches("abc", "abc"), false);
  assert.equal(challengeMatches(undefined, "abc"), false);
});

test("a delivery is signed, never follows a redirect, and names failures by category only", async (t) => {
  let hits = 0;
  let headers: Record<string, unknown> = {};
  const server = createServer((req, res) => {
    hits++;
    headers = req.headers;
    if (req.url === "/redirect") {
      res.writeHead(307, { location: "http://127.0.0.1:1/elsewhere" });
      return res.end();
    }
    if (req.url === "/boom") {
      res.writeHead(500);
      return res.end("internal secrets here");
    }
    res.writeHead(200);
    res.end("ok");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => server.close());
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const policy = { allowHttp: true, allowPrivate: true };
  const s = `whsec_${randomBytes(32).toString("base64")}`;
  const ok = await postSigned(`${base}/ok`, policy, s, "evt_1", "{}", { "x-mcp-subscription-id": "sub_1" });
  assert.equal(ok.ok, true);
  assert.equal(headers["webhook-id"], "evt_1");
  assert.equal(headers["x-mcp-subscription-id"], "sub_1");
  assert.equal(headers["webhook-signature"], sign(s, "evt_1", Number(headers["webhook-timestamp"]), "{}"));
  const redirect = await postSigned(`${base}/redirect`, policy, s, "evt_2", "{}", {});
  assert.deepEqual([redirect.ok, redirect.failure], [false, "http_4xx"]);
  assert.equal(hits, 2, "the redirect was not followed");
  const boom = await postSigned(`${base}/boom`, policy, s, "evt_3", "{}", {});
  assert.deepEqual([boom.ok, boom.failure, boom.body], [false, "http_5xx", undefined]);
  // Without the operator's permission, loopback is refused at delivery time too.
  const refused = await postSigned(`${base}/ok`, { allowHttp: true }, s, "evt_4", "{}", {});
  assert.equal(refused.ok, false);
  assert.equal(hits, 3);
  const closed = await postSigned("http://127.0.0.1:1/x", policy, s, "evt_5", "{}", {});
  assert.deepEqual([closed.ok, closed.failure], [false, "connection_refused"]);
});
