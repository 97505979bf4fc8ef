"""A small, closed expression language for sweep ``derive`` and ``constraints``.

Allowed: numbers, strings, ``True``/``False``, key paths (``hw.accelerator.pe_rows``,
``workload.layers[0].seq_q``), arithmetic ``+ - * / // % **``, comparisons, ``and or not``,
``x if c else y`` and the functions in :data:`FUNCTIONS`. Anything else (attribute access on
values, imports, lambdas, comprehensions) is rejected when the sweep file is read, so a sweep
file can never run arbitrary code.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from archsim.sweep.paths import get_path, parse_path

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": min, "max": max, "abs": abs, "sqrt": math.sqrt, "log2": math.log2, "log10": math.log10,
    "ceil": math.ceil, "floor": math.floor, "int": int, "float": float, "round": round,
}
_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_CMPOPS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}


def _path_text(node: ast.AST) -> str | None:
    """The dotted key path an Attribute/Subscript/Name chain spells, or None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _path_text(node.value)
        return None if inner is None else f"{inner}.{node.attr}"
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, int):
        inner = _path_text(node.value)
        return None if inner is None else f"{inner}[{node.slice.value}]"
    return None


def _check(node: ast.AST, text: str) -> None:
    if isinstance(node, ast.Expression):
        _check(node.body, text)
    elif isinstance(node, ast.Constant):
        if not isinstance(node.value, (int, float, str, bool)):
            raise ValueError(f"expression {text!r}: constant {node.value!r} is not allowed")
    elif isinstance(node, (ast.Name, ast.Attribute, ast.Subscript)):
        path = _path_text(node)
        if path is None:
            raise ValueError(f"expression {text!r}: only key paths like hw.memory.hbm.capacity_bytes are allowed")
        parse_path(path)
    elif isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        _check(node.left, text)
        _check(node.right, text)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
        _check(node.operand, text)
    elif isinstance(node, ast.BoolOp):
        for value in node.values:
            _check(value, text)
    elif isinstance(node, ast.Compare) and all(type(op) in _CMPOPS for op in node.ops):
        _check(node.left, text)
        for comp in node.comparators:
            _check(comp, text)
    elif isinstance(node, ast.IfExp):
        for part in (node.test, node.body, node.orelse):
            _check(part, text)
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS:
        if node.keywords:
            raise ValueError(f"expression {text!r}: keyword arguments are not allowed")
        for arg in node.args:
            _check(arg, text)
    else:
        raise ValueError(f"expression {text!r}: {type(node).__name__} is not allowed "
                         f"(arithmetic, comparisons, key paths and {', '.join(FUNCTIONS)} only)")


@lru_cache(maxsize=256)
def parse_expression(text: str) -> ast.Expression:
    """Parse and check ``text``; raises ValueError naming what is not allowed."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"expression {text!r} is not valid: {exc.msg}") from None
    _check(tree, text)
    return tree


def _eval(node: ast.AST, config: dict[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript)):
        value = get_path(config, parse_path(_path_text(node) or ""))
        if isinstance(value, (dict, list)):
            raise ValueError(f"{_path_text(node)} is a {type(value).__name__}, not a value")
        return value
    if isinstance(node, ast.BinOp):
        return _BINOPS[type(node.op)](_eval(node.left, config), _eval(node.right, config))
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, config)
        return not value if isinstance(node.op, ast.Not) else (-value if isinstance(node.op, ast.USub) else +value)
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            return all(_eval(v, config) for v in node.values)
        return any(_eval(v, config) for v in node.values)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, config)
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = _eval(comp, config)
            if not _CMPOPS[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        return _eval(node.body, config) if _eval(node.test, config) else _eval(node.orelse, config)
    if isinstance(node, ast.Call):
        return FUNCTIONS[node.func.id](*(_eval(a, config) for a in node.args))  # type: ignore[attr-defined]
    raise ValueError(f"cannot evaluate {type(node).__name__}")  # unreachable after _check


def evaluate(text: str, config: dict[str, Any]) -> Any:
    """Evaluate expression ``text`` over ``config``. Raises PathError/ValueError/ArithmeticError/TypeError."""
    return _eval(parse_expression(text).body, config)
