"""A scripted agent on the Python MCP SDK (`mcp`): lists the tools of a mesh-mcp spawned
over stdio, then search -> get -> call through the discovery meta-tools. Prints a JSON
report: what it listed, the bytes of everything it read, the method it picked, the result.

  python discovery_agent.py --mode legacy|2026-07-28 --query WORDS --args JSON -- node dist/cli.js [flags]
"""
import argparse
import asyncio
import json
import os
import re
import sys

from mcp import Client
from mcp.client.stdio import StdioServerParameters


def text_of(result) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "type", None) == "text")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", required=True)
    ap.add_argument("--query", required=True)
    ap.add_argument("--args", required=True)
    ap.add_argument("command", nargs="+")
    a = ap.parse_args()
    server = StdioServerParameters(command=a.command[0], args=a.command[1:], env=dict(os.environ))
    async with Client(server, mode=a.mode, cache=None) as client:
        listed = await client.list_tools()
        tools = [t.model_dump(by_alias=True, exclude_none=True, mode="json") for t in listed.tools]
        list_bytes = len(json.dumps(tools, separators=(",", ":")))
        search = await client.call_tool("mesh_search_tools", {"query": a.query, "limit": 5})
        search_text = text_of(search)
        m = re.search(r"^1\. (\S+) ", search_text, re.M)
        if not m or search.is_error:
            raise SystemExit(f"search found nothing: {search_text}")
        picked = m.group(1)
        got = await client.call_tool("mesh_get_tool", {"name": picked})
        get_text = text_of(got)
        called = await client.call_tool("mesh_call_tool", {"name": picked, "arguments": json.loads(a.args)})
        json.dump(
            {
                "protocol": client.protocol_version,
                "listed": [t["name"] for t in tools],
                "listBytes": list_bytes,
                "searchBytes": len(search_text.encode()),
                "getBytes": len(get_text.encode()),
                "picked": picked,
                "isError": bool(called.is_error),
                "result": text_of(called),
            },
            sys.stdout,
        )


asyncio.run(main())
