"""A pytest plugin for projects on PyMongo, odm or the unit of work: a real server per test
session (mongolet by default), fresh databases, engines, units of work and fail points.

Installed with ``odm-uow`` (a ``pytest11`` entry point), so its fixtures need no import:
``mongodb_server``, ``mongodb_uri``, ``mongodb_client``, ``mongodb_aclient``, ``mongodb_db``,
``mongodb_adb``, ``odm_engine``, ``odm_aengine``, ``uow_factory`` and ``auow_factory``.
:func:`fail_point` makes the server fail the next commands, to test retry and error paths::

    from pytest_odm_uow import fail_point

    def test_a_commit_that_fails_once_is_retried(mongodb_client, uow_factory):
        with fail_point(mongodb_client, "commitTransaction", error_code=112):
            uow_factory(BankUnit).run(transfer, "alice", "bob", 10)

Options: ``--mongodb-uri`` (or ``MONGODB_URI``) runs the tests against that deployment instead
of mongolet; ``--mongolet-dbpath DIR`` keeps mongolet's data in ``DIR`` (one folder per xdist
worker); ``--mongolet-version`` and ``--mongolet-mode``. Markers: ``mongodb_transactions``
skips a test when the server has no transactions (a standalone mongod), ``mongodb_real``
skips it on mongolet (select those with ``-m mongodb_real``).
"""

from pytest_odm_uow.failpoints import FailPoint, fail_point
from pytest_odm_uow.servers import MongoDBServer

__all__ = ["FailPoint", "MongoDBServer", "fail_point"]
