import { test } from "node:test";
import assert from "node:assert/strict";
import {
  FILES_BUCKET,
  FILES_TOOL,
  adminSubject,
  callSubject,
  cancelSubject,
  filesSubject,
  isToken,
  nodeCallSubject,
  nodeStreamSubject,
  streamSubject,
  toolSchemaSubject,
} from "../../src/mesh/index.js";

test("call and stream subjects follow the jb-mesh contract", () => {
  assert.equal(callSubject("calculator", "add"), "tools.calculator.add");
  assert.equal(nodeCallSubject("gpu-1", "calculator", "add"), "node.gpu-1.tools.calculator.add");
  assert.equal(streamSubject("whisper", "transcribe"), "tools.whisper.transcribe.stream");
  assert.equal(nodeStreamSubject("gpu-1", "whisper", "transcribe"), "node.gpu-1.tools.whisper.transcribe.stream");
});

test("cancel subject is cancel.<call_id>", () => {
  assert.equal(cancelSubject("NUID123abc"), "cancel.NUID123abc");
});

test("fallback schema, admin and files subjects", () => {
  assert.equal(toolSchemaSubject("n1", "calc"), "node.n1.tools.calc.schema");
  assert.equal(adminSubject("n1", "install"), "node.n1.install");
  assert.equal(adminSubject("n1", "uninstall"), "node.n1.uninstall");
  assert.equal(adminSubject("n1", "update"), "node.n1.update");
  assert.equal(adminSubject("n1", "config"), "node.n1.config");
  assert.equal(adminSubject("n1", "release.inspect"), "node.n1.release.inspect");
  for (const op of ["put", "get", "head", "delete", "list"] as const) assert.equal(filesSubject(op), `files.${op}`);
  assert.equal(FILES_BUCKET, "mesh-files");
  assert.equal(FILES_TOOL, "files");
});

test("isToken accepts single subject tokens only", () => {
  for (const ok of ["calc", "gpu-1", "my_tool", "A1"]) assert.equal(isToken(ok), true, ok);
  for (const bad of ["", "a.b", "a b", "*", ">", "a*", "tab\there", "line\nbreak"]) assert.equal(isToken(bad), false, JSON.stringify(bad));
});

test("a task's reply subject is one token deep under the capture prefix, matched by the stream's filter", async () => {
  const { taskFramesSubject, TASK_SUBJECT_PREFIX } = await import("../../src/mesh/index.js");
  const { newTaskId } = await import("../../src/mesh/task-records.js");
  const id = newTaskId();
  assert.equal(taskFramesSubject(id), `mesh-mcp-tasks.${id}.frames`);
  assert.equal(taskFramesSubject(id, "custom"), `custom.${id}.frames`);
  assert.ok(isToken(id), "a task id is a single subject token");
  assert.equal(TASK_SUBJECT_PREFIX, "mesh-mcp-tasks");
});
