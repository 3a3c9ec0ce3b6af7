"""The dependency-injector container: client, engine, and a unit of work per use case.

::

    container = Container()
    container.config.uri.from_value("mongodb://...")   # tests: their own mongolet
    await container.init_resources()                   # connects the client
    ...                                                # services get their units
    await container.shutdown_resources()               # closes the client

- ``client`` is a :class:`~dependency_injector.providers.Resource`: one ``AsyncMongoClient``
  for the container's life, closed by ``shutdown_resources()``;
- ``engine`` is a singleton ``odm.AIOEngine`` on that client;
- ``unit_of_work`` is a factory: every injection gets a new ``AsyncBankUnit`` (a unit serves
  one task at a time, so concurrent requests must not share one);
- ``read_unit`` is the same for the query side: a read-only unit (one snapshot, no
  transaction, writes refused);
- ``outbox`` (a singleton ``uow.outbox.Outbox`` on ``config.outbox``, default ``outbox``):
  the units of work store their domain events there, in their transaction;
- ``notifications`` (a singleton, where events are published) and ``relay`` (a singleton
  ``uow.outbox.AsyncRelay`` publishing to it): run ``await relay.run()`` as a task (the web
  API does it in its lifespan) and the "transfer completed" notifications arrive.

Creating a container wires :mod:`examples.di_service.services` to it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from dependency_injector import containers, providers
from pymongo import AsyncMongoClient

import odm
from examples.bank.domain import OUTBOX, AsyncBankUnit
from examples.bank.notifications import Notifications
from uow.outbox import AsyncRelay, Outbox


async def mongo_client(uri: str) -> AsyncIterator[AsyncMongoClient]:
    """The client, until the container shuts its resources down."""
    client: AsyncMongoClient = AsyncMongoClient(uri)
    try:
        yield client
    finally:
        await client.close()


class Container(containers.DeclarativeContainer):
    wiring_config = containers.WiringConfiguration(modules=["examples.di_service.services"])

    config = providers.Configuration(
        default={"database": "bank", "outbox": OUTBOX, "relay_poll_interval": 1.0}
    )
    client = providers.Resource(mongo_client, uri=config.uri.required())
    engine = providers.Singleton(odm.AIOEngine, client=client, database=config.database)
    outbox = providers.Singleton(Outbox, collection=config.outbox)
    unit_of_work = providers.Factory(AsyncBankUnit, engine=engine, outbox=outbox)
    read_unit = providers.Factory(AsyncBankUnit, engine=engine, read_only=True)
    notifications = providers.Singleton(Notifications)
    relay = providers.Singleton(
        AsyncRelay,
        engine=engine,
        publisher=notifications.provided.publish,
        outbox=config.outbox,
        poll_interval=config.relay_poll_interval,
    )
