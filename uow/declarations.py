"""Which repositories a unit of work offers: class annotations and ``repositories=``.

``accounts: Repository[Account]`` or ``transfers: TransferRepository`` on a unit subclass, or
``UnitOfWork(engine, repositories={"accounts": Account})`` (a model, or a repository class).
"""

from __future__ import annotations

import sys
import typing
from collections.abc import Mapping
from typing import Any

from odm import Model
from uow.repository import BaseRepository

RepositorySpec = tuple[type[BaseRepository[Any]], type[Model]]


def _resolve(annotation: Any, owner: type) -> Any:
    if not isinstance(annotation, str):
        return annotation
    namespace = dict(vars(sys.modules[owner.__module__])) if owner.__module__ in sys.modules else {}
    namespace.update(vars(owner))
    return eval(annotation, namespace)


def _article(word: str) -> str:
    """``a`` or ``an``: messages read as English."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def spec_of(value: Any, flavour: type[BaseRepository[Any]], where: str) -> RepositorySpec | None:
    """The (repository class, model) a declaration stands for; ``None`` if it is not one."""
    if isinstance(value, type) and issubclass(value, Model):
        return flavour, value
    origin = typing.get_origin(value) or value
    if not (isinstance(origin, type) and issubclass(origin, BaseRepository)):
        return None
    if not issubclass(origin, flavour):
        raise TypeError(
            f"{where}: {origin.__name__} is not {_article(flavour.__name__)} "
            f"{flavour.__name__} (sync units take a Repository, async units an "
            "AsyncRepository)"
        )
    args = typing.get_args(value)
    model = args[0] if args else origin.model
    if not (isinstance(model, type) and issubclass(model, Model)):
        raise TypeError(f"{where}: say which model, e.g. {flavour.__name__}[MyModel]")
    return origin, model


def declared(unit_class: type, flavour: type[BaseRepository[Any]]) -> dict[str, RepositorySpec]:
    """The repositories annotated on ``unit_class`` and its bases."""
    specs: dict[str, RepositorySpec] = {}
    for owner in reversed(unit_class.__mro__):
        for name, annotation in vars(owner).get("__annotations__", {}).items():
            if name.startswith("_"):
                continue
            where = f"{owner.__name__}.{name}"
            try:
                resolved = _resolve(annotation, owner)
            except Exception as error:
                if "Repository" in str(annotation):
                    raise TypeError(f"{where}: cannot resolve {annotation!r} ({error})") from None
                continue
            spec = spec_of(resolved, flavour, where)
            if spec is not None:
                specs[name] = spec
    return specs


def registered(
    repositories: Mapping[str, Any] | None, flavour: type[BaseRepository[Any]]
) -> dict[str, RepositorySpec]:
    """The ``repositories=`` argument: name -> model class or repository class."""
    specs: dict[str, RepositorySpec] = {}
    for name, value in (repositories or {}).items():
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise ValueError(f"repository names must be public identifiers, got {name!r}")
        spec = spec_of(value, flavour, f"repositories[{name!r}]")
        if spec is None:
            raise TypeError(
                f"repositories[{name!r}] must be a Model class or "
                f"{_article(flavour.__name__)} {flavour.__name__} class, got {value!r}"
            )
        specs[name] = spec
    return specs


__all__ = ["RepositorySpec", "declared", "registered", "spec_of"]
