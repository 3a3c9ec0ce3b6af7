"""Aggregation pipeline stages."""
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol


class PipelineContext(Protocol):
    """What a pipeline needs from outside: other collections of the same database (for
    ``$lookup``), as the running command's session or transaction sees them."""

    def collection_documents(self, name: str) -> Iterable[dict[str, Any]]: ...


def run_pipeline(
    docs: Iterable[dict[str, Any]],
    pipeline: Sequence[Mapping[str, Any]],
    ctx: PipelineContext,
    *,
    variables: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Run the stages of ``pipeline`` over ``docs``. ``$out``/``$merge`` are the command
    layer's business and are refused here."""
    raise NotImplementedError
