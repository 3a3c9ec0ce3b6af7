"""``python -m bench --quick`` runs every benchmark against mongolet and reports every row.

Speed is never asserted here: only that each section, workload and contender is measured
and written to the table, the JSON and the chart, and that every end-to-end contender did
the whole work (its find returned N documents, its lookups found every id).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.config import Config

ROOT = Path(__file__).resolve().parents[2]

EXPECTED_CONTENDERS = {
    "model layer": {"pydantic", "odm", "odmantic", "beanie"},
    "end to end": {"pymongo", "pymongo async", "odm sync", "odm async", "odmantic sync",
                   "odmantic async", "beanie"},
    "unit of work": {"bulk_write by hand", "odm save one by one", "odm save_all", "uow commit"},
    "mongolet": {"no-work floor", "mongolet"},
    "reads": {"engine.find", "uow find (tracked)", "uow stream (untracked)",
              "uow find into= (projection)"},
    "reads, memory as N grows": {"stream N/5", "stream 2N"},
    "outbox": {"uow commit", "uow commit + outbox"},
    "outbox, delivery": {"relay, change stream", "relay, polling 0.1 s"},
    "change streams": {"insert acknowledged", "insert seen by watch()"},
}
# unit of work: K = 1, 2, 4 collections (--quick) on MongoDB 8.0 and 7.0.
EXPECTED_WORKLOADS = {"model layer": 4, "end to end": 5, "unit of work": 6, "mongolet": 3,
                      "reads": 1, "reads, memory as N grows": 1, "change streams": 1}

EXPECTED_WORKLOADS.update({"outbox": 1, "outbox, delivery": 1})  # bench/outbox.py


def test_quick_run_reports_every_row(tmp_path: Path) -> None:
    # In a directory that does not exist yet (as bench/results/ in a fresh clone).
    json_path, png_path = tmp_path / "results" / "bench.json", tmp_path / "bench.png"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(json_path),
         "--png", str(png_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    results = json.loads(json_path.read_text())
    rows = results["rows"]
    for section, contenders in EXPECTED_CONTENDERS.items():
        mine = [r for r in rows if r["section"] == section]
        workloads = {r["workload"] for r in mine}
        assert len(workloads) == EXPECTED_WORKLOADS[section], (section, workloads)
        for workload in workloads:
            measured = {r["contender"] for r in mine if r["workload"] == workload}
            assert contenders <= measured, (section, workload, contenders - measured)
    for row in rows:
        assert len(row["samples"]) == results["meta"]["config"]["repeats"]
        assert row["median"] > 0 and row["ratio"] > 0
        assert row["contender"] in done.stdout and row["workload"] in done.stdout
        assert f"== {row['section']}" in done.stdout
    references = [r for r in rows if r["contender"] == r["reference"]]
    assert all(r["ratio"] == 1.0 for r in references)
    uow = [r for r in rows if r["section"] == "unit of work"]
    assert all("round_trips" in r["counters"] for r in uow)

    quick = Config.quick()
    e2e = [r for r in rows if r["section"] == "end to end"]
    finds = [r for r in e2e if r["workload"] == f"find {quick.documents} by a filter"]
    lookups = [r for r in e2e if r["workload"] == f"find one by id x{quick.lookups}"]
    assert len(finds) == len(lookups) == len(EXPECTED_CONTENDERS["end to end"])
    for row in finds:
        assert row["counters"]["documents"] == quick.documents, row["contender"]
    for row in lookups:
        assert row["counters"]["found"] == quick.lookups, row["contender"]
    assert "== checks" not in done.stdout
    # The client's CPU time beside the wall clock, in the end-to-end section only.
    assert all(r["cpu_median"] > 0 and r["cpu_ratio"] > 0 for r in e2e)
    assert "cpu ratio" in done.stdout.split("== end to end")[1].split("== unit of work")[0]

    assert results["targets"], "the issue's targets are judged and written"
    assert "== targets" in done.stdout
    for verdict in results["targets"]:
        assert verdict["target"] in done.stdout

    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
