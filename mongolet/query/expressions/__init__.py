"""The aggregation expression language.

``compile_expression(expr)`` parses an expression once into ``f(root, variables) -> value``;
``evaluate`` is the one-off form; ``evaluate_let`` a command's ``let`` option.

``compiler`` holds the language itself (literals, field paths, variables, the operator
table); each family module registers its operators in that table when imported:
``arithmetic``, ``comparison``, ``conditionals``, ``strings``, ``arrays``, ``objects``,
``conversions``, ``dates``, ``accumulators`` (shared with ``$group``), ``miscellaneous``.
"""

from __future__ import annotations

# Imported for their registrations in the operator table.
from mongolet.query.expressions import (  # noqa: F401
    accumulators,
    arithmetic,
    arrays,
    comparison,
    conditionals,
    conversions,
    dates,
    miscellaneous,
    objects,
    strings,
)
from mongolet.query.expressions.accumulators import ACCUMULATORS, Accumulator, average, sum_numbers
from mongolet.query.expressions.arithmetic import numeric_op
from mongolet.query.expressions.compiler import (
    Compiled,
    Variables,
    compile_expression,
    evaluate,
    evaluate_let,
    missing_to_null,
    traverse,
)
from mongolet.query.expressions.conversions import convert
from mongolet.query.expressions.objects import merge_objects

__all__ = [
    "ACCUMULATORS",
    "Accumulator",
    "Compiled",
    "Variables",
    "average",
    "compile_expression",
    "convert",
    "evaluate",
    "evaluate_let",
    "merge_objects",
    "missing_to_null",
    "numeric_op",
    "sum_numbers",
    "traverse",
]
