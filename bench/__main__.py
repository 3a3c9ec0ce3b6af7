"""``python -m bench``: run every benchmark side by side and print the table."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path

import mongolet
from bench import (
    change_streams,
    end_to_end,
    model_layer,
    outbox,
    reads,
    report,
    scale,
    server,
    unit_of_work,
)
from bench.config import Config
from bench.harness import Row, Workload, run_workload
from bench.targets import Verdict, judge

Section = Callable[[Config, str], AbstractContextManager[list[Workload]]]
SECTIONS: dict[str, Section] = {
    "model": model_layer.workloads,
    "e2e": end_to_end.workloads,
    "uow": unit_of_work.workloads,
    "reads": reads.workloads,
    "outbox": outbox.workloads,
    "server": server.workloads,
    "scale": scale.workloads,
    "changes": change_streams.workloads,
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes, two repetitions: a smoke run (figures meaningless)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the results as JSON")
    parser.add_argument("--png", type=Path, metavar="PATH", help="write a chart of the ratios")
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append",
                        help="run only this section (repeatable)")
    parser.add_argument("--repeats", type=int, help="repetitions per contender (default 7)")
    parser.add_argument("--documents", type=int, help="N, documents per run (default 1000)")
    parser.add_argument("--server-mode", choices=("process", "thread"), default="process",
                        help="run mongolet in a child process (its own core, default) or a "
                             "thread of the benchmark's process")
    parser.add_argument("--uri", help="run end to end and unit of work against this server "
                                      "(a replica set) instead of a fresh mongolet")
    return parser.parse_args(argv)


def config_from(args: argparse.Namespace) -> Config:
    config = (Config.quick(args.server_mode, args.uri) if args.quick
              else Config(server_mode=args.server_mode, uri=args.uri))
    if args.repeats is not None:
        config = replace(config, repeats=max(1, args.repeats))
    if args.documents is not None:
        config = replace(config, documents=max(1, args.documents))
    return config


@contextlib.contextmanager
def server_uri(config: Config) -> Iterator[str]:
    if config.uri:
        yield config.uri
        return
    with mongolet.serve(mode=config.server_mode) as running:
        yield running.uri


def verdicts_for(workload: Workload, rows: Sequence[Row]) -> list[Verdict]:
    medians = {r.contender: r.median for r in rows}
    trips = {r.contender: r.counters["round_trips"] for r in rows if "round_trips" in r.counters}
    peaks = {r.contender: r.counters["peak_kib"] for r in rows if "peak_kib" in r.counters}
    return [judge(t, workload.section, workload.name, medians, trips, peaks)
            for t in workload.targets]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    config = config_from(args)
    for output in (args.json, args.png):
        if output is not None:  # before the run, not after it: bench/results/ is gitignored
            output.parent.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    verdicts: list[Verdict] = []
    started = time.time()
    with server_uri(config) as uri:
        for key, section in SECTIONS.items():
            if args.only and key not in args.only:
                continue
            with section(config, uri) as workloads:
                for workload in workloads:
                    print(f"... {workload.section}: {workload.name}", file=sys.stderr, flush=True)
                    found = run_workload(workload, config.repeats, config.warmups)
                    rows.extend(found)
                    verdicts.extend(verdicts_for(workload, found))
    print(report.table(rows, verdicts))
    problems = end_to_end.check(rows, config)
    if problems:  # figures of less work than the title says: not comparable
        print("== checks FAILED\n" + "\n".join(problems))
    meta = {"config": vars(config), "seconds": round(time.time() - started, 1),
            "server": config.uri or f"mongolet ({config.server_mode} mode)"}
    if args.json:
        report.write_json(args.json, report.as_json(rows, verdicts, meta))
    if args.png:
        report.write_png(args.png, rows)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
