"""References in a unit of work: the unit writes only the models it tracks. A model that
references a new model the unit does not track is refused (``engine.save`` would cascade);
a referenced model added to the unit, or saved before, is written as a plain reference."""

from __future__ import annotations

import pytest

from tests.uow.conftest import Twin, call, entered
from tests.uow.models import Owner, Pet
from uow import AsyncUnitOfWork, InvalidUsageError, UnitOfWork


def _unit(twin: Twin) -> UnitOfWork | AsyncUnitOfWork:
    unit_class = UnitOfWork if twin.flavour == "sync" else AsyncUnitOfWork
    return unit_class(twin.engine, repositories={"owners": Owner, "pets": Pet})


async def test_a_new_referenced_model_the_unit_does_not_track_is_refused(twin: Twin) -> None:
    unit = _unit(twin)
    with pytest.raises(InvalidUsageError, match=r"Pet\.owner references a new Owner"):
        async with entered(unit) as uow:
            uow.pets.add(Pet(name="Rex", owner=Owner(name="Ann")))
    # Nothing was written: the flush refused before sending anything.
    assert await twin.count(Pet) == 0
    assert await twin.count(Owner) == 0


async def test_a_referenced_model_added_to_the_unit_or_saved_is_referenced(twin: Twin) -> None:
    saved = Owner(name="Bob")
    await twin.save(saved)
    added = Owner(name="Ann")
    async with entered(_unit(twin)) as uow:
        uow.owners.add(added)
        uow.pets.add(Pet(name="Rex", owner=added))
        uow.pets.add(Pet(name="Tom", owner=saved))
    pets = await call(twin.engine.find(Pet, sort=Pet.name))
    assert [(p.name, p.owner.name) for p in pets] == [("Rex", "Ann"), ("Tom", "Bob")]
