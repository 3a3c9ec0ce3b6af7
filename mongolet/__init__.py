"""mongolet: an embedded MongoDB-compatible server speaking the real wire protocol.

Real PyMongo clients (``MongoClient``, ``AsyncMongoClient``) and Motor connect to it
unchanged, with sessions and multi-document transactions::

    import mongolet
    from pymongo import MongoClient

    with mongolet.serve() as server:
        client = MongoClient(server.uri)
        client.bank.accounts.insert_one({"_id": "alice", "balance": 100})

From a shell: ``python -m mongolet --port 27017``.

Data lives in memory unless a data directory is given (``serve(dbpath=...)``,
``MongoletServer(dbpath=...)``, ``python -m mongolet --dbpath DIR``): then every acknowledged
write and committed transaction is journaled and fsynced first, survives ``kill -9``, and is
there at the next start on that directory (``mongolet.durability``). A directory another
server has open raises ``DbpathLockedError``; files this version cannot read (another data
format version, not mongolet's) raise ``DataFormatError``.
"""

from mongolet.durability import DataFormatError, DbpathLockedError, DurabilityError
from mongolet.server import MongoletServer, Server, serve

__all__ = ["DataFormatError", "DbpathLockedError", "DurabilityError", "MongoletServer",
           "Server", "serve"]
__version__ = "0.1.0"
