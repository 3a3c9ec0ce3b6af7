"""What a benchmark run is asked to do: sizes, repetitions and the server to use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ServerMode = Literal["process", "thread"]


@dataclass(frozen=True)
class Config:
    documents: int = 1000  # N: documents per model-layer or end-to-end run
    lookups: int = 300  # find-one-by-id calls per run
    collections: int = 4  # K: collections a unit-of-work commit touches
    changed: int = 200  # models changed per unit-of-work commit
    server_ops: int = 500  # point reads / inserts / transactions per mongolet run
    reads: int = 50_000  # documents the reads section reads (and streams N/5 and 2N)
    repeats: int = 7
    warmups: int = 1
    server_mode: ServerMode = "process"
    uri: str | None = None  # run end to end against this server instead of a fresh mongolet

    @classmethod
    def quick(cls, server_mode: ServerMode = "process", uri: str | None = None) -> Config:
        """Small sizes and two repetitions: a smoke run that exercises every row."""
        return cls(documents=20, lookups=10, collections=2, changed=8, server_ops=20,
                   reads=200, repeats=2, warmups=0, server_mode=server_mode, uri=uri)
