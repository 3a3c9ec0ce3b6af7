"""Typed repositories bound to a unit of work: ``Repository[T]`` and ``AsyncRepository[T]``.

Declare them on a unit of work (``accounts: Repository[Account]``) and subclass them for
domain queries. See :mod:`repositories.base` and :mod:`uow`.
"""

from repositories.base import AsyncRepository, BaseRepository, Repository

__all__ = ["AsyncRepository", "BaseRepository", "Repository"]
