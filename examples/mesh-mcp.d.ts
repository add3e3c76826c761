/**
 * Type-checking aid, not part of the examples' code.
 *
 * The examples import the library as a user would (`from "mesh-mcp"`), which the
 * package resolves to itself through package.json "exports" → dist/mesh/index.d.ts.
 * That file exists only after `npm run build`, and even then it declares a second
 * copy of every class, incompatible with the src/ classes the tests use. The root
 * tsconfig includes examples/, so this ambient module (which TypeScript prefers over
 * the package resolution) types "mesh-mcp" as src/mesh/index.ts there: `npx tsc
 * --noEmit` works without a build and examples and tests agree on one `Mesh`.
 *
 * examples/tsconfig.json (the build of dist/examples) excludes this file, so the
 * built examples are checked against the built library, as a user's code would be.
 * Add a line here when an example imports another name from "mesh-mcp".
 */
declare module "mesh-mcp" {
  type Lib = typeof import("../src/mesh/index.js");
  export const Mesh: Lib["Mesh"];
  export type Mesh = import("../src/mesh/index.js").Mesh;
  export const isFileKeyParam: Lib["isFileKeyParam"];
  export type MeshOptions = import("../src/mesh/index.js").MeshOptions;
  export type LogLevel = import("../src/mesh/index.js").LogLevel;
  export type JsonObject = import("../src/mesh/index.js").JsonObject;
  export type MethodSchema = import("../src/mesh/index.js").MethodSchema;
  export type ToolCallContext = import("../src/mesh/index.js").ToolCallContext;
  export type ToolDefinition = import("../src/mesh/index.js").ToolDefinition;
}
