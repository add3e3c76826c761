/** Names shared by the bench runner and its child processes. */
export const FLEET_PREFIX = "fleet_";

export function fleetToolName(i: number): string {
  return `${FLEET_PREFIX}${String(i).padStart(4, "0")}`;
}
