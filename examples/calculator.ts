/**
 * Example node: a `calculator` tool with four methods, each with a published input
 * schema.
 *
 *   NATS_URL=nats://localhost:4222 MESH_NODE=calc1 npx tsx examples/calculator.ts
 *   jb-mesh call calculator.divide a=1 b=4        # → 0.25
 */
import type { JsonObject, Mesh, MethodSchema, ToolDefinition } from "mesh-mcp";
import { numberParam, runIfMain } from "./common.js";

export const CALCULATOR_TOOL = "calculator";

function schemaFor(description: string, a: string, b: string): MethodSchema {
  return {
    type: "object",
    description,
    properties: {
      a: { type: "number", description: a },
      b: { type: "number", description: b },
    },
    required: ["a", "b"],
  };
}

function operands(params: JsonObject): [number, number] {
  return [numberParam(params, "a"), numberParam(params, "b")];
}

/** The tool definition (handlers return plain numbers). */
export function calculatorTool(): ToolDefinition {
  return {
    name: CALCULATOR_TOOL,
    version: "1.0.0",
    description: "Basic arithmetic on two numbers",
    methods: {
      add: {
        schema: schemaFor("Add two numbers: a + b.", "First addend.", "Second addend."),
        handler: (params) => {
          const [a, b] = operands(params);
          return a + b;
        },
      },
      subtract: {
        schema: schemaFor("Subtract b from a: a - b.", "Minuend.", "Subtrahend."),
        handler: (params) => {
          const [a, b] = operands(params);
          return a - b;
        },
      },
      multiply: {
        schema: schemaFor("Multiply two numbers: a * b.", "First factor.", "Second factor."),
        handler: (params) => {
          const [a, b] = operands(params);
          return a * b;
        },
      },
      divide: {
        schema: schemaFor("Divide a by b: a / b. Fails when b is 0.", "Dividend.", "Divisor; must not be 0."),
        handler: (params) => {
          const [a, b] = operands(params);
          if (b === 0) throw new Error("division by zero: b must not be 0");
          return a / b;
        },
      },
    },
  };
}

/** Registers `calculator` on `mesh` (which must have been connected with a `node`). */
export async function registerCalculator(mesh: Mesh): Promise<void> {
  await mesh.registerTool(calculatorTool());
}

runIfMain(import.meta.url, "calculator", registerCalculator);
