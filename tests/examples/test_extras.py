"""The examples' dependencies stay optional: the library imports none of them."""

from __future__ import annotations

import subprocess
import sys

EXTRAS = ("fastapi", "fastapi_offline", "starlette", "dependency_injector", "uvicorn", "httpx", "httpx2")


def test_the_library_packages_do_not_import_the_examples_extras() -> None:
    code = (
        "import sys, odm, uow, repositories, mongolet, mongolet.server\n"
        f"print(sorted(set({EXTRAS!r}) & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
