/**
 * mesh-mcp's mesh library: a wire-compatible TypeScript port of jb-mesh's Go
 * `mesh` package. Call and serve mesh tools, follow the live catalog, use the file
 * store. Knows nothing of MCP.
 */
export { Mesh } from "./mesh.js";
export type { MeshOptions, LogLevel, ConnectionState } from "./mesh.js";

export { connectNats, serverList, prepareWsUrl, DEFAULT_NATS_URL } from "./connect.js";
export type { ConnectOptions, WebSocketOptions, TlsFiles } from "./connect.js";

export { Caller, MeshStream, extractCorr, DEFAULT_CALL_TIMEOUT_MS, DEFAULT_STREAM_INACTIVITY_MS } from "./call.js";
export type { CallOptions, StreamOptions } from "./call.js";

export { Catalog, listServices, parseSchemaMetadata, methodKey, nodeOf, ANY_OBJECT } from "./catalog.js";
export type { CatalogChange, CatalogOptions, DiscoverOptions, MethodEntry, SchemaSource } from "./catalog.js";

export { RequestCancels, requestKey, REQUEST_CANCEL_PREFIX } from "./request-cancels.js";
export { FileStore, sha256Hex, DEFAULT_CONTENT_TYPE } from "./files.js";
export type { FileStoreMode, FileStoreOptions, FileWatchEvent } from "./files.js";
export { FILE_TOOL_SCHEMAS, fileToolDefinition } from "./filetool.js";

export { TaskStore, DEFAULT_TASK_TTL_MS } from "./tasks.js";
export type { TaskStoreOptions, StartTaskRequest } from "./tasks.js";
export { isTerminalStatus, ownerHash } from "./task-records.js";
export type { TaskStatus, TaskView, TaskOutcome } from "./task-records.js";

export * from "./events/index.js";

export { LIMITS } from "./limits.js";
export {
  CallLog,
  CallRecords,
  ReplyDroppedError,
  callLogRecord,
  callLogSubject,
  parseNodeCallRecord,
  recordAddendum,
  newCorr,
  CALL_LOG_SUBJECTS,
  DEFAULT_REPLY_GRACE_MS,
} from "./logstore.js";
export type { CallLogEntry, CallerIdentity, LogRecord, NodeCallRecord } from "./logstore.js";
export { ToolServer } from "./node.js";
export type { ToolCallContext, ToolDefinition, ToolHandler, ToolMethodDefinition } from "./node.js";
export { AdminClient } from "./admin.js";
export type { AdminHandlers } from "./admin.js";

export { parseKeyValuePairs, resolveFileParams, isFileKeyParam, FILE_PARAM_NAMES } from "./params.js";

export {
  cancelSubject,
  callSubject,
  nodeCallSubject,
  streamSubject,
  nodeStreamSubject,
  toolSchemaSubject,
  adminSubject,
  filesSubject,
  isToken,
  FILES_BUCKET,
  FILES_TOOL,
  TASKS_BUCKET,
  TASK_FRAMES_STREAM,
  TASK_SUBJECT_PREFIX,
  taskFramesSubject,
} from "./subjects.js";

export * from "./errors.js";
export type {
  CallRequest,
  CallResult,
  ConfigResult,
  FileInfo,
  InstallResult,
  JsonObject,
  MeshEvent,
  MethodSchema,
  ReleaseInspectInfo,
  ReleaseInspectResult,
  SchemaResult,
  ServiceInfo,
  StreamFrame,
  UninstallResult,
  UpdateResult,
} from "./types.js";
