"""A small, closed expression language for sweep ``derive`` and ``constraints``.

Allowed: numbers, strings, ``True``/``False``, key paths (``hw.accelerator.pe_rows``,
``workload.layers[0].seq_q``), arithmetic ``+ - * / // % **``, comparisons, ``and or not``,
``x if c else y`` and the functions in :data:`FUNCTIONS`. Anything else (attribute access on
values, imports, lambdas, comprehensions, shifts and bit operations) is rejected when the sweep
file is read, so a sweep file can never run arbitrary code.

Evaluation is bounded (numbers in :mod:`archsim.limits`): an expression has at most
``MAX_EXPRESSION_CHARS`` characters and a nesting depth of 64; every integer it computes fits in
``MAX_EXPRESSION_INT_BITS`` bits and every string in ``MAX_EXPRESSION_STR_CHARS`` characters, and
each is checked *before* the operation runs (``10**10**10`` and ``'a' * 10**10`` are refused at
once, not computed); a non-finite or complex result is refused; ``%`` on a string (formatting)
is refused. A refusal is a ValueError naming the bound.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from archsim import limits
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


_MAX_DEPTH = 64
_OPERATOR_TEXT: dict[type, str] = {ast.LShift: "<<", ast.RShift: ">>", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^",
                  ast.MatMult: "@", ast.Invert: "~"}


def _check(node: ast.AST, text: str, depth: int = 0) -> None:
    if depth > _MAX_DEPTH:
        raise ValueError(f"expression {_short(text)}: nested deeper than {_MAX_DEPTH} levels")
    depth += 1
    if isinstance(node, ast.Expression):
        _check(node.body, text, depth)
    elif isinstance(node, ast.Constant):
        if not isinstance(node.value, (int, float, str, bool)):
            raise ValueError(f"expression {text!r}: constant {node.value!r} is not allowed")
        _bounded(node.value)
    elif isinstance(node, (ast.Name, ast.Attribute, ast.Subscript)):
        path = _path_text(node)
        if path is None:
            raise ValueError(f"expression {text!r}: only key paths like hw.memory.hbm.capacity_bytes are allowed")
        parse_path(path)
    elif isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        _check(node.left, text, depth)
        _check(node.right, text, depth)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
        _check(node.operand, text, depth)
    elif isinstance(node, ast.BoolOp):
        for value in node.values:
            _check(value, text, depth)
    elif isinstance(node, ast.Compare) and all(type(op) in _CMPOPS for op in node.ops):
        _check(node.left, text, depth)
        for comp in node.comparators:
            _check(comp, text, depth)
    elif isinstance(node, ast.IfExp):
        for part in (node.test, node.body, node.orelse):
            _check(part, text, depth)
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS:
        if node.keywords:
            raise ValueError(f"expression {text!r}: keyword arguments are not allowed")
        for arg in node.args:
            _check(arg, text, depth)
    else:
        op: Any = getattr(node, "op", None)
        what = f"operator {_OPERATOR_TEXT[type(op)]}" if type(op) in _OPERATOR_TEXT else type(node).__name__
        raise ValueError(f"expression {_short(text)}: {what} is not allowed "
                         f"(arithmetic, comparisons, key paths and {', '.join(FUNCTIONS)} only)")


@lru_cache(maxsize=256)
def parse_expression(text: str) -> ast.Expression:
    """Parse and check ``text``; raises ValueError naming what is not allowed."""
    if len(text) > limits.MAX_EXPRESSION_CHARS:
        raise ValueError(f"expression of {len(text)} characters is longer than the limit of "
                         f"{limits.MAX_EXPRESSION_CHARS}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"expression {_short(text)} is not valid: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError):  # a NUL byte; nesting past the parser's own limit
        raise ValueError(f"expression {_short(text)} is not valid (a NUL byte, or nested too deeply)") from None
    _check(tree, text)
    return tree


def _short(text: str) -> str:
    shown = repr(text)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def _bounded(value: Any) -> Any:
    """``value`` if it is within the expression bounds; ValueError otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value.bit_length() > limits.MAX_EXPRESSION_INT_BITS:
        raise ValueError(f"integer result beyond {limits.MAX_EXPRESSION_INT_BITS} bits")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"result is not finite ({value})")
    if isinstance(value, str) and len(value) > limits.MAX_EXPRESSION_STR_CHARS:
        raise ValueError(f"string result longer than {limits.MAX_EXPRESSION_STR_CHARS} characters")
    if isinstance(value, complex):
        raise ValueError("result is a complex number")
    return value


def _int_bits(value: Any) -> int:
    return abs(int(value)).bit_length() if isinstance(value, int) else 0


def _str_len(value: Any) -> int:
    return len(value) if isinstance(value, str) else 0


def _binop(op: ast.operator, left: Any, right: Any) -> Any:
    """Apply ``op`` after checking that its result stays within the bounds (estimated before computing)."""
    kind = type(op)
    bits, chars = limits.MAX_EXPRESSION_INT_BITS, limits.MAX_EXPRESSION_STR_CHARS
    if kind is ast.Pow and isinstance(left, int) and isinstance(right, int) and right > 0:
        if abs(left) > 1 and _int_bits(left) * right > bits + _int_bits(left):
            raise ValueError(f"{left} ** {right} is beyond {bits} bits; not computed")
    if kind is ast.Mult:
        if isinstance(left, int) and isinstance(right, int) and _int_bits(left) + _int_bits(right) > bits + 1:
            raise ValueError(f"integer product beyond {bits} bits; not computed")
        repeat = right if isinstance(left, str) else left if isinstance(right, str) else None
        if isinstance(repeat, int) and repeat * max(_str_len(left), _str_len(right)) > chars:
            raise ValueError(f"repeating a string {repeat} times makes more than {chars} characters; not computed")
    if kind is ast.Mod and isinstance(left, str):
        raise ValueError("'%' on a string (formatting) is not allowed")
    return _bounded(_BINOPS[kind](left, right))


def _eval(node: ast.AST, config: dict[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript)):
        value = get_path(config, parse_path(_path_text(node) or ""))
        if isinstance(value, (dict, list)):
            raise ValueError(f"{_path_text(node)} is a {type(value).__name__}, not a value")
        return value
    if isinstance(node, ast.BinOp):
        return _binop(node.op, _eval(node.left, config), _eval(node.right, config))
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, config)
        return not value if isinstance(node.op, ast.Not) else (-value if isinstance(node.op, ast.USub) else +value)
    if isinstance(node, ast.Call):
        return _bounded(FUNCTIONS[node.func.id](*(_eval(a, config) for a in node.args)))  # type: ignore[attr-defined]
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
    raise ValueError(f"cannot evaluate {type(node).__name__}")  # unreachable after _check


def evaluate(text: str, config: dict[str, Any]) -> Any:
    """Evaluate expression ``text`` over ``config``. Raises PathError/ValueError/ArithmeticError/TypeError."""
    return _eval(parse_expression(text).body, config)
