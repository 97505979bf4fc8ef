"""Module import layering against the layer table of docs/ARCHITECTURE.md, and no import circles.

Every ``import archsim...`` / ``from archsim... import`` in the package's source (module level or
inside a function; ``if TYPE_CHECKING:`` blocks excluded) is an edge between the units that hold
the two modules. An edge may not point to a higher layer, and the unit graph must be acyclic.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"archsim": "archsim", "kernels": "archsim.kernels", "dataflows": "archsim.dataflows", "rtl": "archsim.rtl",
           "campaigns": "archsim.campaigns"}


def layer_table() -> dict[str, int]:
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    section = text[text.index("## Layers"):]
    layers = {}
    for match in re.finditer(r"^\| (\d+) \| ([^|]+) \|$", section, flags=re.M):
        for unit in match.group(2).replace("the study modules:", "").split(","):
            layers[unit.strip()] = int(match.group(1))
    assert len(layers) > 20, "the layer table of docs/ARCHITECTURE.md was not found"
    return layers


def modules() -> dict[str, Path]:
    found = {}
    for folder, package in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text())
    skipped = {id(n) for node in ast.walk(tree)
               if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                and node.module.split(".")[0] == "archsim"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                out.add(full if full in known else node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "archsim"}
    return out


def unit_of(module: str, layers: dict[str, int]) -> str | None:
    if module == "archsim":
        return None  # the package root: version and a lazy simulate() only
    best = None
    for unit in layers:
        if (module == unit or module.startswith(unit + ".")) and (best is None or len(unit) > len(best)):
            best = unit
    return best


def unit_graph() -> tuple[dict[str, set[str]], dict[str, int], list[str]]:
    layers = layer_table()
    known = modules()
    graph: dict[str, set[str]] = defaultdict(set)
    unassigned = []
    for module, path in known.items():
        source = unit_of(module, layers)
        if source is None and module != "archsim":
            unassigned.append(module)
            continue
        for target in imports(path, known):
            dest = unit_of(target, layers)
            if source and dest and dest != source:
                graph[source].add(dest)
    return graph, layers, unassigned


def test_every_module_belongs_to_a_layer():
    _, _, unassigned = unit_graph()
    assert not unassigned, f"modules in no layer of docs/ARCHITECTURE.md: {unassigned}"


def test_no_module_imports_a_higher_layer():
    graph, layers, _ = unit_graph()
    upward = sorted(f"{a} (layer {layers[a]}) -> {b} (layer {layers[b]})"
                    for a, targets in graph.items() for b in targets if layers[b] > layers[a])
    assert not upward, "imports of a higher layer:\n" + "\n".join(upward)


def test_the_unit_import_graph_has_no_circles():
    graph, _, _ = unit_graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            raise AssertionError("import circle: " + " -> ".join(cycle))
