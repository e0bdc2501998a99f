"""The package's layering: no import cycle (module-level and lazy imports alike), runner and techniques apart."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "src" / "wattcut"


def _modules() -> dict[str, Path]:
    mods = {}
    for f in ROOT.rglob("*.py"):
        parts = f.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = f
    return mods


def _edges(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Every import anywhere in a module (``ast.walk``: function-level imports count too)."""

    def known(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, f in mods.items():
        for node in ast.walk(ast.parse(f.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = m.split(".") if f.name == "__init__.py" else m.split(".")[:-1]
                    pkg = pkg[: len(pkg) - (node.level - 1)]
                    base = ".".join([*pkg, base] if base else pkg)
                names = [base] + [f"{base}.{a.name}" for a in node.names]
            for n in names:
                target = known(n)
                if target and target.startswith("wattcut") and target != m:
                    edges[m].add(target)
    return edges


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, if there is any (iterative DFS with colours)."""
    colour: dict[str, int] = {}
    for start in edges:
        if start in colour:
            continue
        stack = [(start, iter(sorted(edges[start])))]
        path = [start]
        colour[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                colour[node] = 2
                stack.pop()
                path.pop()
            elif colour.get(child) == 1:
                return path[path.index(child) :] + [child]
            elif child not in colour:
                colour[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(edges[child]))))
    return None


def test_no_import_cycle_anywhere_in_the_package():
    assert _cycle(_edges(_modules())) is None


def test_the_check_finds_a_cycle_when_there_is_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_runner_imports_no_technique_and_no_technique_imports_the_runner():
    edges = _edges(_modules())
    techniques = {m for m in edges if m.startswith("wattcut.compress.") and m != "wattcut.compress.base"}
    assert len(techniques) >= 10
    runner = {m for m in edges if m.startswith("wattcut.runner")}
    assert not {(m, t) for m in runner for t in edges[m] if t in techniques}
    assert not {(m, t) for m in techniques for t in edges[m] if t.startswith("wattcut.runner")}


def test_tasks_and_statistics_never_import_the_runner_or_the_cli():
    edges = _edges(_modules())
    low = {m for m in edges if m.startswith(("wattcut.tasks", "wattcut.stats", "wattcut.runtimes", "wattcut.models"))}
    assert not {(m, t) for m in low for t in edges[m] if t.startswith(("wattcut.runner", "wattcut.cli"))}
