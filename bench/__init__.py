"""Side-by-side benchmarks: odm / uow / mongolet against ODMantic, Beanie, pydantic and PyMongo.

Run ``python -m bench`` (``--quick`` for a smoke run, ``--json PATH`` / ``--png PATH`` to
keep the results). Every figure is the median of repeated runs in which the contenders of a
workload take turns (A B C A B C ...), so machine noise hits them alike; ratios to the
workload's reference are what to read, not absolute times.

Modules: :mod:`bench.harness` (timing and medians), :mod:`bench.targets` (the issue's
targets), :mod:`bench.report` (table, JSON, PNG), one module per section
(:mod:`bench.model_layer`, :mod:`bench.end_to_end`, :mod:`bench.unit_of_work`,
:mod:`bench.server`), :mod:`bench.models` and :mod:`bench.shapes` (the same documents in
every library), :mod:`bench.floor_server` (the no-work server).
"""
