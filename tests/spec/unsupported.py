"""The runner's own error for what it cannot run.

It derives from neither ``PyMongoError`` nor ``ValueError``/``TypeError``, so the runner
never takes it for the client error a test expects, and ``ignoreResultAndError`` never
swallows it: a test the runner cannot run fails, it does not pass by accident.
"""

from __future__ import annotations


class Unsupported(NotImplementedError):
    """An operation, argument, entity option or test key this runner does not implement."""
