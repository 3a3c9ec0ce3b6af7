"""Accumulators: one table serving ``$group``/``$bucket`` and the expression forms on arrays.

An accumulator folds values: ``finish(step(... step(start(), v1) ..., vn))``. ``$group``
folds one value per document of a group; the expression form (``{$sum: "$scores"}``,
``{$max: [a, b]}``) folds the elements of its one operand when that is an array, otherwise
its operands, as mongod's ExpressionFromAccumulator does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bson.decimal128 import Decimal128

from mongolet.query.expressions.arithmetic import decimal_result, numeric_op, to_decimal
from mongolet.query.expressions.compiler import (
    OPERATORS,
    Compiled,
    Variables,
    compile_expression,
    missing_to_null,
)
from mongolet.query.expressions.objects import merge_objects
from mongolet.query.values import MISSING, compare, is_number, numeric, unique_values


@dataclass(frozen=True, slots=True)
class Accumulator:
    """How one accumulator folds values. ``unary``: ``$group`` refuses an array argument
    (code 40237); ``expression``: also an expression operator."""

    start: Callable[[], Any]
    step: Callable[[Any, Any], Any]
    finish: Callable[[Any], Any]
    unary: bool = True
    expression: bool = False


class _Unset:
    """No value folded yet (``$first`` and ``$min`` of nothing are null, not missing)."""


_UNSET = _Unset()


def _unset() -> Any:
    return _UNSET


def sum_numbers(numbers: list[Any]) -> Any:
    """$sum's result over numbers: int unless widened; empty sum is 0."""
    if not numbers:
        return 0
    return numeric_op(numbers, lambda a, b: a + b)


def average(numbers: list[Any]) -> Any:
    """$avg's result over numbers (a double, or a decimal if one is); null when empty."""
    if not numbers:
        return None
    if any(isinstance(n, Decimal128) for n in numbers):
        total = sum((to_decimal(n) for n in numbers), Decimal(0))
        return decimal_result(total / len(numbers))
    return float(math.fsum(float(numeric(n)) for n in numbers)) / len(numbers)


def _std_dev(sample: bool) -> Callable[[list[Any]], Any]:
    def finish(numbers: list[Any]) -> Any:
        values = [float(numeric(v)) for v in numbers]
        n = len(values)
        if n == 0 or (sample and n < 2):
            return None
        mean = sum(values) / n
        variance = sum((v - mean) ** 2 for v in values) / (n - 1 if sample else n)
        return variance**0.5

    return finish


def _add_number(state: list[Any], value: Any) -> list[Any]:
    # Non-numeric values (and booleans) are ignored, as mongod does.
    if is_number(value) and not isinstance(value, bool):
        state.append(value)
    return state


def _push(state: list[Any], value: Any) -> list[Any]:
    if value is not MISSING:
        state.append(value)
    return state


def _first(state: Any, value: Any) -> Any:
    return missing_to_null(value) if state is _UNSET else state


def _last(state: Any, value: Any) -> Any:
    return missing_to_null(value)


def _extreme(sign: int) -> Callable[[Any, Any], Any]:
    """$min (sign -1) or $max (sign 1): null and missing values are ignored."""

    def step(state: Any, value: Any) -> Any:
        if value is None or value is MISSING:
            return state
        if state is _UNSET or compare(value, state) * sign > 0:
            return value
        return state

    return step


def _merge(state: Any, value: Any) -> Any:
    return merge_objects([{} if state is _UNSET else state, value])


def _value_or_null(state: Any) -> Any:
    return None if state is _UNSET else state


def _merged(state: Any) -> Any:
    return {} if state is _UNSET else state


def _as_is(state: Any) -> Any:
    return state


ACCUMULATORS: dict[str, Accumulator] = {
    "$sum": Accumulator(list, _add_number, sum_numbers, expression=True),
    "$avg": Accumulator(list, _add_number, average, expression=True),
    "$min": Accumulator(_unset, _extreme(-1), _value_or_null, expression=True),
    "$max": Accumulator(_unset, _extreme(1), _value_or_null, expression=True),
    "$stdDevPop": Accumulator(list, _add_number, _std_dev(False), unary=False, expression=True),
    "$stdDevSamp": Accumulator(list, _add_number, _std_dev(True), unary=False, expression=True),
    "$count": Accumulator(list, _add_number, sum_numbers, unary=False),
    "$push": Accumulator(list, _push, _as_is),
    "$addToSet": Accumulator(list, _push, unique_values),
    "$first": Accumulator(_unset, _first, _value_or_null),
    "$last": Accumulator(_unset, _last, _value_or_null),
    "$mergeObjects": Accumulator(_unset, _merge, _merged),
}


def _expression_form(accumulator: Accumulator) -> Callable[[str, Any], Compiled]:
    start, step, finish = accumulator.start, accumulator.step, accumulator.finish

    def build(name: str, arg: Any) -> Compiled:
        operands = [compile_expression(a) for a in arg] if isinstance(arg, list) else [compile_expression(arg)]
        if len(operands) == 1:
            only = operands[0]

            def over_one(root: Mapping[str, Any], variables: Variables) -> Any:
                value = only(root, variables)
                state = start()
                for element in value if isinstance(value, list) else (value,):
                    state = step(state, element)
                return finish(state)

            return over_one

        def over_operands(root: Mapping[str, Any], variables: Variables) -> Any:
            state = start()
            for operand in operands:
                state = step(state, operand(root, variables))
            return finish(state)

        return over_operands

    return build


for _name, _accumulator in ACCUMULATORS.items():
    if _accumulator.expression:
        OPERATORS[_name] = _expression_form(_accumulator)
