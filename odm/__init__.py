"""odm: typed MongoDB documents on pydantic v2, with ODMantic's API.

>>> from odm import Model, Field, SyncEngine
>>> class User(Model):
...     name: str = Field(index=True)
...     age: int = 0

``SyncEngine(client, database="app").save(User(name="Ann"))`` stores it; ``engine.find(User,
User.age >= 18)`` queries; ``engine.transaction()`` groups writes atomically. See the README
tour and each module: :mod:`odm.model`, :mod:`odm.query`, :mod:`odm.engine`,
:mod:`odm.tracking` (change tracking); the pure builders by concept: :mod:`odm.query_compiler`,
:mod:`odm.loading`, :mod:`odm.saving`, :mod:`odm.write_errors`, :mod:`odm.index_planning`,
:mod:`odm.facts`.
"""

from odm import query
from odm.bson import Binary, Decimal128, Int64, ObjectId, Regex, WithBsonSerializer
from odm.engine import (
    AIOCursor,
    AIOEngine,
    AIOSession,
    AIOTransaction,
    SyncCursor,
    SyncEngine,
    SyncSession,
    SyncTransaction,
)
from odm.exceptions import (
    BaseEngineException,
    DocumentNotFoundError,
    DocumentParsingError,
    DuplicateKeyError,
    IndexConflictError,
    ODMError,
    PrimaryKeyChangeError,
    SessionStateError,
    TransactionsNotSupportedError,
)
from odm.fields import Field, FieldProxy, Reference
from odm.index import Index
from odm.model import EmbeddedModel, Model, ODMConfigDict
from odm.query import QueryExpression, SortExpression

__all__ = [
    "AIOCursor",
    "AIOEngine",
    "AIOSession",
    "AIOTransaction",
    "BaseEngineException",
    "Binary",
    "Decimal128",
    "DocumentNotFoundError",
    "DocumentParsingError",
    "DuplicateKeyError",
    "EmbeddedModel",
    "Field",
    "FieldProxy",
    "Index",
    "IndexConflictError",
    "Int64",
    "Model",
    "ODMConfigDict",
    "ODMError",
    "ObjectId",
    "PrimaryKeyChangeError",
    "QueryExpression",
    "Reference",
    "Regex",
    "SessionStateError",
    "SortExpression",
    "SyncCursor",
    "SyncEngine",
    "SyncSession",
    "SyncTransaction",
    "TransactionsNotSupportedError",
    "WithBsonSerializer",
    "query",
]
