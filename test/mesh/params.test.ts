import { test } from "node:test";
import assert from "node:assert/strict";
import { FILE_PARAM_NAMES, isFileKeyParam, parseKeyValuePairs } from "../../src/mesh/index.js";

const asObject = (m: Map<string, string[]>) => Object.fromEntries(m);

test("parseKeyValuePairs splits at the first '=' and trims the key only", () => {
  assert.deepEqual(asObject(parseKeyValuePairs(["a=2", "b=3"])), { a: ["2"], b: ["3"] });
  assert.deepEqual(asObject(parseKeyValuePairs(["expr=x=y+1"])), { expr: ["x=y+1"] });
  assert.deepEqual(asObject(parseKeyValuePairs(["  key \t= value "])), { key: [" value "] });
  assert.deepEqual(asObject(parseKeyValuePairs(["empty="])), { empty: [""] });
  assert.deepEqual(asObject(parseKeyValuePairs([])), {});
});

test("parseKeyValuePairs collects repeated keys into a multi-value list, in order", () => {
  const m = parseKeyValuePairs(["tag=a", "other=1", "tag=b", " tag =c"]);
  assert.deepEqual(m.get("tag"), ["a", "b", "c"]);
  assert.deepEqual(m.get("other"), ["1"]);
});

test("parseKeyValuePairs rejects a missing '=' or an empty key with the Go error text", () => {
  for (const bad of ["novalue", "=x", "  =x", ""]) {
    assert.throws(() => parseKeyValuePairs(["ok=1", bad]), { message: `expected key=value, got "${bad}"` }, bad);
  }
  assert.throws(() => parseKeyValuePairs(["say \"hi\""]), { message: 'expected key=value, got "say \\"hi\\""' });
});

test("isFileKeyParam: every known file param name takes a store key", () => {
  const names = ["audio", "image", "file", "input_file", "video", "document", "attachment", "photo", "path",
    "filepath", "file_path", "input_path", "input", "source"];
  assert.deepEqual([...FILE_PARAM_NAMES].sort(), [...names].sort());
  for (const name of names) assert.equal(isFileKeyParam(name, "outputs/abc.png"), true, name);
});

test("isFileKeyParam: local paths, URLs, plain words and other params are not store keys", () => {
  assert.equal(isFileKeyParam("image", "/tmp/abc.png"), false);
  assert.equal(isFileKeyParam("image", "~/pics/abc.png"), false);
  assert.equal(isFileKeyParam("image", "./pics/abc.png"), false);
  assert.equal(isFileKeyParam("image", "http://example.com/abc.png"), false);
  assert.equal(isFileKeyParam("image", "https://example.com/abc.png"), false);
  assert.equal(isFileKeyParam("image", "abc.png"), false, "no '/' → not a key");
  assert.equal(isFileKeyParam("image", ""), false);
  assert.equal(isFileKeyParam("prompt", "outputs/abc.png"), false, "not a file param name");
  assert.equal(isFileKeyParam("image", 42), false);
  assert.equal(isFileKeyParam("image", ["outputs/abc.png"]), false);
  assert.equal(isFileKeyParam("image", "a/b/c.wav"), true, "nested keys are keys");
});
