"""Where the test suite finds a server: MONGODB_URI, a Docker replica set, or mongolet."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Iterator

import mongolet


@functools.cache
def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env().ping()
    except Exception:
        return False
    return True


# Set when a container was wanted but did not start, and mongolet runs the suite instead.
_docker_failed = False


def _wants_docker() -> bool:
    return os.environ.get("MONGOLET_USE_DOCKER") != "0" and _docker_answers()


def real_mongodb() -> bool:
    """Whether the suite's server is a real MongoDB: ``MONGODB_URI``, or the Docker replica
    set :func:`server_uri` starts when a Docker engine answers (unless that container
    failed to start, which is only known once it was tried)."""
    if os.environ.get("MONGODB_URI"):
        return True
    return _wants_docker() and not _docker_failed


@contextlib.contextmanager
def _docker_replica_set() -> Iterator[str]:
    """A one-member MongoDB 8.0 replica set in a container (needs testcontainers)."""
    from pymongo import MongoClient
    from testcontainers.core.container import DockerContainer  # type: ignore[import-not-found]
    from testcontainers.core.waiting_utils import wait_for_logs  # type: ignore[import-not-found]

    # Test commands on, as the spec and reliability tests' fail points need them.
    container = DockerContainer("mongo:8.0").with_command(
        "--replSet rs0 --bind_ip_all --setParameter enableTestCommands=1"
    )
    container.with_exposed_ports(27017)
    with container:
        wait_for_logs(container, "Waiting for connections")
        host = container.get_container_host_ip()
        port = int(container.get_exposed_port(27017))
        with MongoClient(host, port, directConnection=True) as c:
            c.admin.command(
                "replSetInitiate",
                {"_id": "rs0", "members": [{"_id": 0, "host": f"{host}:{port}"}]},
            )
        yield f"mongodb://{host}:{port}/?directConnection=true"


@contextlib.contextmanager
def server_uri(**serve_options: object) -> Iterator[str]:
    """Yield a connection string to a server that can run transactions."""
    uri = os.environ.get("MONGODB_URI")
    if uri:
        yield uri
        return
    if _wants_docker():
        with contextlib.ExitStack() as stack:
            try:
                docker_uri = stack.enter_context(_docker_replica_set())
            except Exception as exc:  # no image to be had, say: mongolet runs the suite
                global _docker_failed
                _docker_failed = True
                print(f"tests: no MongoDB container ({exc}); using mongolet", file=sys.stderr)
            else:
                yield docker_uri
                return
    # MONGOLET_MODE=process runs the server in a child process (see README: measured).
    serve_options.setdefault("mode", os.environ.get("MONGOLET_MODE", "thread"))
    with mongolet.serve(**serve_options) as server:  # type: ignore[arg-type]
        yield server.uri
