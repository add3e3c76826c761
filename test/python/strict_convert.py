"""Converts MCP tool definitions (a JSON list on stdin) with the agent frameworks' own
strict-mode converters; prints {tool name: {"langchain": parameters, "agents": schema}}.

- LangChain: langchain_core.utils.function_calling.convert_to_openai_tool(strict=True)
- openai-agents: agents.strict_schema.ensure_strict_json_schema (what its MCP tools use
  with convert_schemas_to_strict)
"""
import copy
import json
import sys

from agents.strict_schema import ensure_strict_json_schema
from langchain_core.utils.function_calling import convert_to_openai_tool

out = {}
for tool in json.load(sys.stdin):
    entry = {}
    lc = convert_to_openai_tool(
        {"name": tool["name"], "description": tool.get("description", ""), "parameters": copy.deepcopy(tool["inputSchema"])},
        strict=True,
    )
    entry["langchain"] = lc["function"]["parameters"]
    entry["langchain_strict"] = lc["function"].get("strict")
    try:
        entry["agents"] = ensure_strict_json_schema(copy.deepcopy(tool["inputSchema"]))
    except Exception as err:  # the converter refuses schemas it cannot make strict
        entry["agents_error"] = f"{type(err).__name__}: {err}"
    out[tool["name"]] = entry
json.dump(out, sys.stdout)
