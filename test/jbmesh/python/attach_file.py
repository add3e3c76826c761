"""What jb-service's Service.attach_file writes, through nats-py as the SDK does.

Usage: attach_file.py NATS_URL KEY CONTENT_TYPE < bytes
Prints the ref that goes into a result's __mesh_files__.

Follows jb-service's mesh_filestore.put (sdk/python/jb-service, jb-mesh v0.0.9):
one short-lived connection without reconnects, the bucket bound (or created with
nats-py's defaults when missing), no object headers (nats-py headers upset
nats.go), the content type and a hex SHA-256 in the object's description.
"""
import asyncio
import hashlib
import json
import os
import sys

import nats
from nats.js.api import ObjectMeta

BUCKET = "mesh-files"


async def put(url: str, key: str, content_type: str, data: bytes) -> dict:
    nc = await asyncio.wait_for(
        nats.connect(url, connect_timeout=1, max_reconnect_attempts=0, allow_reconnect=False), timeout=2
    )
    try:
        js = nc.jetstream()
        try:
            store = await js.object_store(BUCKET)
        except Exception:
            store = await js.create_object_store(BUCKET)
        etag = hashlib.sha256(data).hexdigest()
        meta = ObjectMeta(name=key, description=f"{content_type};etag={etag}")
        await store.put(key, data, meta=meta)
    finally:
        await nc.close()
    ref = {"key": key, "content_type": content_type, "size": len(data)}
    ref["filename"] = os.path.basename(key)
    return ref


def main() -> None:
    if len(sys.argv) != 4:
        sys.exit("usage: attach_file.py NATS_URL KEY CONTENT_TYPE < bytes")
    url, key, content_type = sys.argv[1:]
    print(json.dumps(asyncio.run(put(url, key, content_type, sys.stdin.buffer.read()))))


if __name__ == "__main__":
    main()
