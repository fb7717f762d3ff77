"""Which trajectories: ``record=`` selections, parsed with a whitelist and never evaluated.

:func:`select_ids` turns what a user passes as ``record`` into sorted unique
trajectory ids of a config's grid:

* ``None`` (nothing) or ``"all"``;
* trajectory ids: a sequence or integer array of ints in ``[0, n_trajectories)``;
* a mapping ``{axis: value or values}``: the trajectories whose ``axis`` is one
  of the values, for every axis given (``{"lr": [0.01, 0.04], "seed": range(3)}``);
* an expression over the axis names and ``trajectory_id``, e.g.
  ``"lr == 0.04 and seed < 3"``, ``"order in ['shuffle', 'online'] or not (0.1 <= lr < 1)"``.

The expression grammar::

    expr       := expr "or" expr | expr "and" expr | "not" expr | "(" expr ")" | comparison
    comparison := operand (op operand)+          chained as in Python: a < b < c
    op         := "==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not in"
    operand    := NAME | NUMBER | STRING | "[" literal ("," literal)* "]"

NAME is an axis of the config or ``trajectory_id``; each comparison names at
least one of them; strings compare only with ``==``, ``!=``, ``in`` and
``not in``. Values are compared exactly as given in the config. The text is
parsed by Python's own parser (:func:`ast.parse`, which builds a syntax tree
and runs nothing) and every node of the tree is checked against this
whitelist before anything is computed; anything else (attributes, calls,
subscripts, lambdas, comprehensions, f-strings, arithmetic, unknown names)
is a :class:`~lrsweep.ParameterError` naming the offending part. pandas'
``DataFrame.query``, used before, *evaluates* Python and could run code.
"""

from __future__ import annotations

import ast
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ._validation import Described, ParameterError, ParameterTypeError, message
from .config import AXES, SweepConfig

__all__ = ["MAX_EXPRESSION", "select_ids"]

#: Longest expression accepted (characters); Python's parser has its own nesting limits too.
MAX_EXPRESSION = 10_000
#: Trajectories evaluated at once (bounds the memory of a selection on a huge grid).
_BLOCK = 1 << 20
ALLOWED = ("None, 'all', a sequence of trajectory ids, a mapping {axis: values} or an expression "
           "over the axis names such as \"lr == 0.04 and seed < 3\"")
_CMP = {ast.Eq: np.equal, ast.NotEq: np.not_equal, ast.Lt: np.less, ast.LtE: np.less_equal,
        ast.Gt: np.greater, ast.GtE: np.greater_equal}
_STRING_OPS = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)


def select_ids(config: SweepConfig, record: Any, owner: str = "sweep") -> np.ndarray:
    """The sorted unique trajectory ids that ``record`` selects in ``config``'s grid.

    Parameters
    ----------
    config : SweepConfig
        The grid.
    record : None, "all", sequence of int, mapping or str
        The selection (see the module docstring).
    owner : str
        The function named in error messages.

    Returns
    -------
    ndarray of int64

    Raises
    ------
    lrsweep.ParameterError
        For anything that is not a selection of this grid, naming the part that is wrong.
    """
    n = config.n_trajectories
    if record is None:
        return np.zeros(0, dtype=np.int64)
    if isinstance(record, str):
        if record == "all":
            return np.arange(n, dtype=np.int64)
        test = _compile(record, config, owner)
    elif isinstance(record, Mapping):
        test = _membership(record, config, owner)
    else:
        return _ids(record, n, owner)
    return _evaluate(test, config)


# ---------------------------------------------------------------------------- ids
def _ids(record: Any, n: int, owner: str) -> np.ndarray:
    if isinstance(record, bytes) or not isinstance(record, Sequence | np.ndarray | range):
        raise ParameterTypeError(message("record", owner, ALLOWED, _shown(record)))
    items = record.tolist() if isinstance(record, np.ndarray) else list(record)
    for v in items:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise ParameterTypeError(message("record", owner, f"trajectory ids (ints in [0, {n - 1}])", v))
        if not 0 <= int(v) < n:
            raise ParameterError(message("record", owner, f"trajectory ids in [0, {n - 1}]", v))
    return np.unique(np.asarray([int(v) for v in items], dtype=np.int64))


def _shown(value: object) -> object:
    if isinstance(value, numbers.Number):
        return value
    return Described(f"an object of type {type(value).__name__}")


# ----------------------------------------------------------------------- mapping
def _membership(record: Mapping, config: SweepConfig, owner: str) -> Callable:
    tests = []
    for axis, wanted in record.items():
        if axis not in AXES:
            raise ParameterError(message("record", owner, "a mapping whose keys are axis names ("
                                         + ", ".join(AXES) + ")", axis))
        values = list(wanted) if isinstance(wanted, list | tuple | range | np.ndarray | set) else [wanted]
        if not values:
            raise ParameterError(message("record", owner, f"at least one value of {axis!r}", wanted))
        for v in values:
            _check_literal(v, axis, owner)
        tests.append((axis, values))

    def test(values: Callable[[str], np.ndarray]) -> np.ndarray:
        out = None
        for axis, wanted in tests:
            hit = np.isin(values(axis), np.asarray(wanted, dtype=object if _is_text(axis) else None))
            out = hit if out is None else out & hit
        return out

    return test


# -------------------------------------------------------------------- expression
def _compile(text: str, config: SweepConfig, owner: str) -> Callable:
    if len(text) > MAX_EXPRESSION:
        allowed = f"an expression of at most {MAX_EXPRESSION:,} characters"
        raise ParameterError(message("record", owner, allowed, Described(f"{len(text):,} characters")))
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        why = getattr(exc, "msg", None) or type(exc).__name__
        raise ParameterError(message("record", owner, ALLOWED, text) + f" ({why})") from None
    compiler = _Compiler(text, owner)
    return compiler.expr(tree.body)


def _is_text(name: str) -> bool:
    return name in AXES and not hasattr(AXES[name][0], "kind")


def _check_literal(value: object, name: str, owner: str) -> None:
    if _is_text(name):
        if not isinstance(value, str):
            raise ParameterError(message("record", owner, f"strings for {name!r}", value))
    elif isinstance(value, bool) or not isinstance(value, numbers.Real) or (
            isinstance(value, float) and not math.isfinite(value)):
        raise ParameterError(message("record", owner, f"finite numbers for {name!r}", value))


class _Compiler:
    """Checks each node against the grammar and builds a vectorised test of it."""

    def __init__(self, text: str, owner: str):
        self.text, self.owner = text, owner

    def fail(self, node: ast.AST, why: str) -> ParameterError:
        part = ast.get_source_segment(self.text.strip(), node) or type(node).__name__
        return ParameterError(message("record", self.owner, ALLOWED, self.text) + f" ({why}: {part!r})")

    def expr(self, node: ast.AST) -> Callable:
        if isinstance(node, ast.BoolOp):
            parts = [self.expr(v) for v in node.values]
            combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or

            def boolop(values):
                out = parts[0](values)
                for p in parts[1:]:
                    out = combine(out, p(values))
                return out

            return boolop
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            inner = self.expr(node.operand)
            return lambda values: np.logical_not(inner(values))
        if isinstance(node, ast.Compare):
            return self.compare(node)
        raise self.fail(node, "not a comparison, 'and', 'or' or 'not'")

    def operand(self, node: ast.AST) -> tuple[str, Any]:
        """('name', axis) | ('value', literal) | ('list', [literals])."""
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if node.id not in AXES and node.id != "trajectory_id":
                raise self.fail(node, "unknown name; names are " + ", ".join((*AXES, "trajectory_id")))
            return "name", node.id
        if isinstance(node, ast.List | ast.Tuple):
            if not node.elts:
                raise self.fail(node, "empty list")
            return "list", [self.literal(e) for e in node.elts]
        return "value", self.literal(node)

    def literal(self, node: ast.AST) -> Any:
        sign = 1
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            sign = -1 if isinstance(node.op, ast.USub) else 1
            node = node.operand
            if not (isinstance(node, ast.Constant) and isinstance(node.value, int | float)
                    and not isinstance(node.value, bool)):
                raise self.fail(node, "a sign applies to a number only")
        if isinstance(node, ast.Constant) and not isinstance(node.value, bool) and isinstance(
                node.value, int | float | str):
            value = node.value
            if isinstance(value, float) and not math.isfinite(value):
                raise self.fail(node, "not a finite number")
            return sign * value if sign == -1 else value
        raise self.fail(node, "not a name, a number, a string or a list of them")

    def compare(self, node: ast.Compare) -> Callable:
        operands = [self.operand(node.left), *(self.operand(c) for c in node.comparators)]
        tests = []
        for op, (lk, lv), (rk, rv) in zip(node.ops, operands, operands[1:], strict=False):
            tests.append(self.pair(node, op, lk, lv, rk, rv))

        def chained(values):
            out = tests[0](values)
            for t in tests[1:]:
                out = np.logical_and(out, t(values))
            return out

        return chained

    def pair(self, node: ast.Compare, op: ast.cmpop, lk: str, lv: Any, rk: str, rv: Any) -> Callable:
        if type(op) not in _CMP and not isinstance(op, ast.In | ast.NotIn):
            raise self.fail(node, "operators are ==, !=, <, <=, >, >=, in and not in")
        if lk != "name" and rk != "name":
            raise self.fail(node, "each comparison needs an axis name")
        if isinstance(op, ast.In | ast.NotIn):
            if lk != "name" or rk != "list":
                raise self.fail(node, "'in' takes an axis name on the left and a list on the right")
            for v in rv:
                _check_literal_or_fail(self, node, v, lv)
            negate = isinstance(op, ast.NotIn)
            wanted = np.asarray(rv, dtype=object if _is_text(lv) else None)
            return lambda values: np.isin(values(lv), wanted, invert=negate)
        if lk == "list" or rk == "list":
            raise self.fail(node, "a list goes only after 'in' or 'not in'")
        if lk == "name" and rk == "value":
            _check_literal_or_fail(self, node, rv, lv)
        if rk == "name" and lk == "value":
            _check_literal_or_fail(self, node, lv, rv)
        names = [v for k, v in ((lk, lv), (rk, rv)) if k == "name"]
        if len(names) == 2 and _is_text(names[0]) != _is_text(names[1]):
            raise self.fail(node, "compares a text axis with a number axis")
        if any(_is_text(n) for n in names) and not isinstance(op, _STRING_OPS):
            raise self.fail(node, "text axes compare only with ==, !=, in and not in")
        fn = _CMP[type(op)]
        left = (lambda values: values(lv)) if lk == "name" else (lambda values: lv)
        right = (lambda values: values(rv)) if rk == "name" else (lambda values: rv)
        return lambda values: fn(left(values), right(values))


def _check_literal_or_fail(compiler: _Compiler, node: ast.AST, value: Any, name: str) -> None:
    if name == "trajectory_id":
        if not isinstance(value, int):
            raise compiler.fail(node, "trajectory_id compares with integers")
        return
    try:
        _check_literal(value, name, compiler.owner)
    except ParameterError:
        kind = "strings" if _is_text(name) else "numbers"
        raise compiler.fail(node, f"{name!r} compares with {kind}") from None


# ----------------------------------------------------------------------- evaluate
def _evaluate(test: Callable, config: SweepConfig) -> np.ndarray:
    """Ids where ``test`` holds, evaluated over the grid in blocks of ``_BLOCK`` trajectories."""
    n = config.n_trajectories
    shape = config.shape
    arrays = {name: np.asarray(config.axis_array(name)) for name in AXES}
    found = []
    for lo in range(0, n, _BLOCK):
        ids = np.arange(lo, min(n, lo + _BLOCK), dtype=np.int64)
        index = dict(zip(AXES, np.unravel_index(ids, shape), strict=True))

        def values(name: str, ids=ids, index=index) -> np.ndarray:
            return ids if name == "trajectory_id" else arrays[name][index[name]]

        hit = np.asarray(test(values), dtype=bool)
        found.append(ids[np.broadcast_to(hit, ids.shape)])
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
