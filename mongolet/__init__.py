"""mongolet: an embedded MongoDB-compatible server speaking the real wire protocol.

Real PyMongo clients (``MongoClient``, ``AsyncMongoClient``) and Motor connect to it
unchanged, with sessions and multi-document transactions::

    import mongolet
    from pymongo import MongoClient

    with mongolet.serve() as server:
        client = MongoClient(server.uri)
        client.bank.accounts.insert_one({"_id": "alice", "balance": 100})

From a shell: ``python -m mongolet --port 27017``.
"""

from mongolet.server import MongoletServer, Server, serve

__all__ = ["MongoletServer", "Server", "serve"]
__version__ = "0.1.0"
