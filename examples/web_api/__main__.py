"""``python -m examples.web_api``: serve the bank API on 127.0.0.1 (docs at /docs).

The database is an embedded mongolet unless ``--uri`` (or ``MONGODB_URI``) names a MongoDB
replica set. Ctrl-C stops both.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence

import uvicorn

import mongolet
from examples.di_service.containers import Container
from examples.web_api.app import create_app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.web_api")
    parser.add_argument("--uri", default=os.environ.get("MONGODB_URI"),
                        help="a MongoDB replica set (default: $MONGODB_URI, else an embedded "
                        "mongolet)")
    parser.add_argument("--database", default="web_api_example", help="default: %(default)s")
    parser.add_argument("--port", type=int, default=8000, help="default: %(default)s")
    args = parser.parse_args(argv)

    container = Container()
    container.config.database.from_value(args.database)
    with contextlib.ExitStack() as stack:
        uri = args.uri
        if not uri:
            uri = stack.enter_context(mongolet.serve()).uri
            print(f"started mongolet at {uri}")
        container.config.uri.from_value(uri)
        print(f"API docs at http://127.0.0.1:{args.port}/docs")
        uvicorn.run(create_app(container), host="127.0.0.1", port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
