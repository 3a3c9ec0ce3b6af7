"""Engine and session mistakes both checkers must report."""

from pymongo import MongoClient

from odm import Model, SyncEngine


class Player(Model):
    name: str


def app(client: MongoClient[dict[str, object]]) -> None:
    engine = SyncEngine(client, database="game")
    engine.find(dict)  # E: mypy[type-var] pyright[reportArgumentType]
    engine.save({"name": "x"})  # E: mypy[type-var] pyright[reportArgumentType]
    found = engine.find_one(Player)
    print(found.name)  # E: mypy[union-attr] pyright[reportOptionalMemberAccess]
    with engine.session() as session:
        session.save(Player(name=3))  # E: mypy[arg-type] pyright[reportArgumentType]
        session.count(Player, limit=1)  # E: mypy[call-arg] pyright[reportCallIssue]
