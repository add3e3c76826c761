/**
 * A headless "browser" for clients that open one for OAuth sign-in (mcp-remote, through
 * the `open` package's xdg-open, which runs $BROWSER): signs in at the provider started by
 * the test (login and consent forms), then delivers the redirect to the client's own
 * callback server on localhost, as a browser would. Usage: BROWSER="oidc-browser.sh".
 */
import { appendFileSync } from "node:fs";
import { authorizeTo } from "./oidc.js";

const target = process.argv[2];
const trace = process.env.OIDC_BROWSER_LOG;
try {
  if (!target) throw new Error("no URL given");
  const callback = await authorizeTo(target, "http://localhost", process.env.OIDC_BROWSER_LOGIN ?? "alice");
  const res = await fetch(callback);
  if (trace) appendFileSync(trace, `callback ${callback.pathname} → HTTP ${res.status}\n`);
} catch (err) {
  if (trace) appendFileSync(trace, `error: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
