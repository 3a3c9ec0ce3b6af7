"""Typed repositories bound to a unit of work: ``Repository[T]`` and ``AsyncRepository[T]``.

Declare them on a unit of work (``accounts: Repository[Account]``) and subclass them for
domain queries. This package is their public face (the top layer: odm below uow below
repositories); they live in :mod:`uow.repository` and reach the unit through its public
seam, :class:`uow.core.UnitPort`.
"""

from uow.repository import AsyncRepository, BaseRepository, Repository

__all__ = ["AsyncRepository", "BaseRepository", "Repository"]
