import type { Server } from "@modelcontextprotocol/server";
import type { Bridge } from "./bridge.js";
import type { EventCaller } from "./events.js";
export function registerWebhookMethods(_server: Server, _bridge: Bridge, _callerOf: (ctx: never) => EventCaller): void {}
