/** Credentials masked in text (mesh/secrets.ts) and taken out of server URLs (connect.ts). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { addSecret, scrub } from "../../src/mesh/secrets.js";
import { connectionOptions, splitUrlCredentials } from "../../src/mesh/connect.js";

test("scrub masks registered secrets (and their URL-encoded form) and every URL's user info", () => {
  addSecret("Sekr3t/with+chars");
  addSecret("abc"); // too short to mask safely: left to not being printed
  assert.equal(scrub("token Sekr3t/with+chars here"), "token *** here");
  assert.equal(scrub("url ?p=Sekr3t%2Fwith%2Bchars"), "url ?p=***");
  assert.equal(scrub("abc stays"), "abc stays");
  assert.equal(scrub("at nats://bob:hunter2@10.0.0.1:4222, wss://tok@h/x and http://h/p@q"), "at nats://***@10.0.0.1:4222, wss://***@h/x and http://h/p@q");
  assert.equal(scrub('"nats://u:p@h"'), '"nats://***@h"');
});

test("splitUrlCredentials: user:pass, a lone token, percent-encoding, none, and disagreement", () => {
  assert.deepEqual(splitUrlCredentials(["nats://u:p%40ss@h:1", "nats://u:p%40ss@h:2"]), {
    servers: ["nats://h:1", "nats://h:2"], creds: { user: "u", password: "p@ss" },
  });
  assert.deepEqual(splitUrlCredentials(["nats://t0ken@h"]), { servers: ["nats://h"], creds: { token: "t0ken" } });
  assert.deepEqual(splitUrlCredentials(["nats://h:1", "h:2"]), { servers: ["nats://h:1", "h:2"], creds: undefined });
  assert.throws(() => splitUrlCredentials(["nats://a:b@h:1", "nats://a:c@h:2"]), /different credentials/);
});

test("connectionOptions logs in with URL credentials, keeps them out of the server list, refuses contradictions", () => {
  const a = connectionOptions({ servers: "nats://u:PassW0rd-x@127.0.0.1:4222" });
  assert.deepEqual(a.servers, ["nats://127.0.0.1:4222"]);
  assert.equal(a.options.user, "u");
  assert.equal(a.options.pass, "PassW0rd-x");
  assert.match(a.credentials, /user\/password \(user "u"\) in the NATS URL/);
  assert.equal(scrub("PassW0rd-x"), "***", "the URL's password is registered as a secret");
  const b = connectionOptions({ servers: "nats://Tok-123456@127.0.0.1:4222" });
  assert.equal(b.options.token, "Tok-123456");
  // The same credentials as flags too: fine; different ones: refused.
  assert.doesNotThrow(() => connectionOptions({ servers: "nats://u:p@h", user: "u", password: "p" }));
  assert.throws(() => connectionOptions({ servers: "nats://u:p@h", user: "v", password: "p" }), /differ from --nats-user/);
});
