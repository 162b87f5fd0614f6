"""Figures of the package's architecture (issue 16), measured the same way before and after a
change: the module tree, the longest functions, poll loops, subprocess sites, stop loops and
import cycles.

    .venv/bin/python scripts/architecture.py [--package hodei_e2e] [--json]

What each figure counts (read from the source with `ast`, nothing is imported):
- a *poll loop*: a `while` loop whose own body (nested functions aside) sleeps or waits with a
  timeout: `time.sleep(...)`, `event.wait(...)`, `select(...)`;
- a *Popen site*: a call of `subprocess.Popen` (`Popen(...)`); `subprocess.run` and friends are
  counted apart, as *run sites*;
- a *stop loop*: a function with a `while` loop of its own that sends SIGTERM (or calls
  `.terminate()`) and SIGKILL (or calls `kill`): the terminate, wait, kill sequence;
- an *import cycle*: a strongly connected set of two or more of the package's modules, counting
  every import (also those inside functions, which only hide a cycle from the interpreter).
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Module:
    name: str
    path: Path
    lines: int
    tree: ast.Module
    imports: set[str] = field(default_factory=set)


def modules(package: Path) -> dict[str, Module]:
    found: dict[str, Module] = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        text = path.read_text(encoding="utf-8")
        found[name] = Module(name, path, len(text.splitlines()), ast.parse(text, str(path)))
    for module in found.values():
        module.imports = _imports(module, set(found))
    return found


def _imports(module: Module, known: set[str]) -> set[str]:
    is_package = module.path.name == "__init__.py"
    base = module.name if is_package else module.name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            origin = node.module or ""
            if node.level:
                anchor = base.split(".")[: len(base.split(".")) - (node.level - 1)]
                origin = ".".join([*anchor, *([origin] if origin else [])])
            targets.add(origin)
            targets.update(f"{origin}.{alias.name}" for alias in node.names)
    resolved = set()
    for target in targets:
        name = target
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != module.name:
            resolved.add(name)
    return resolved


def _own_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Every node below `node`, not descending into nested functions and classes."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        yield child
        yield from _own_nodes(child)


def _called_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def poll_loops(module: Module) -> list[int]:
    lines = []
    for node in ast.walk(module.tree):
        if not isinstance(node, ast.While):
            continue
        for inner in _own_nodes(node):
            if isinstance(inner, ast.Call) and _called_name(inner) in {"sleep", "wait", "select"}:
                if _called_name(inner) == "wait" and not (inner.args or inner.keywords):
                    continue  # a bare .wait() blocks until done: not a poll
                lines.append(node.lineno)
                break
    return lines


def calls(module: Module, names: set[str]) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(module.tree)
        if isinstance(node, ast.Call)
        and _called_name(node) in names
        and (
            not isinstance(node.func, ast.Attribute)
            or ast.unparse(node.func.value) in {"subprocess", "sp"}
            or _called_name(node) == "Popen"
        )
    ]


def stop_loops(module: Module) -> list[str]:
    found = []
    for function in _functions(module.tree):
        own = list(_own_nodes(function))
        if not any(isinstance(node, ast.While) for node in own):
            continue
        names = {node.id for node in own if isinstance(node, ast.Name)}
        names |= {node.attr for node in own if isinstance(node, ast.Attribute)}
        called = {_called_name(node) for node in own if isinstance(node, ast.Call)}
        if names & {"SIGTERM", "terminate"} and (names & {"SIGKILL"} or called & {"kill"}):
            found.append(f"{function.name}:{function.lineno}")
    return found


def cycles(found: dict[str, Module]) -> list[list[str]]:
    """Tarjan's strongly connected components of two or more modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        on_stack.add(name)
        for target in sorted(found[name].imports):
            if target not in index:
                visit(target)
                low[name] = min(low[name], low[target])
            elif target in on_stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == name:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for name in sorted(found):
        if name not in index:
            visit(name)
    return result


def measure(package: Path) -> dict[str, object]:
    found = modules(package)
    longest = sorted(
        (
            (fn.end_lineno or fn.lineno) - fn.lineno + 1,
            f"{module.name}.{fn.name}",
        )
        for module in found.values()
        for fn in _functions(module.tree)
    )[::-1]
    per_module = {
        name: {
            "lines": module.lines,
            "poll_loops": poll_loops(module),
            "popen": calls(module, {"Popen"}),
            "run": calls(module, {"run", "check_output", "check_call", "call"}),
            "stop_loops": stop_loops(module),
        }
        for name, module in found.items()
    }

    def total(key: str) -> int:
        return sum(len(figures[key]) for figures in per_module.values())  # type: ignore[arg-type]

    return {
        "modules": len(found),
        "lines": sum(module.lines for module in found.values()),
        "largest_module": max((m.lines, n) for n, m in found.items()),
        "longest_functions": longest[:5],
        "poll_loops": total("poll_loops"),
        "popen_sites": total("popen"),
        "run_sites": total("run"),
        "stop_loops": total("stop_loops"),
        "import_cycles": cycles(found),
        "per_module": per_module,
    }


def tree(package: Path) -> list[str]:
    lines = []
    for path in sorted(package.rglob("*")):
        if "__pycache__" in path.parts or (path.is_file() and path.suffix != ".py"):
            continue
        depth = len(path.relative_to(package).parts) - 1
        if path.is_dir():
            lines.append(f"{'  ' * depth}{path.name}/")
        else:
            count = len(path.read_text(encoding="utf-8").splitlines())
            lines.append(f"{'  ' * depth}{path.name} {count}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", default="hodei_e2e")
    parser.add_argument("--json", action="store_true", help="every figure, per module too")
    parser.add_argument("--tree", action="store_true", help="also the module tree")
    args = parser.parse_args()
    package = ROOT / args.package
    figures = measure(package)
    if args.json:
        print(json.dumps(figures, indent=2, default=str))
        return 0
    if args.tree:
        print("\n".join(tree(package)))
        print()
    per_module: dict[str, dict[str, list[object]]] = figures.pop("per_module")  # type: ignore[assignment]
    for key in ("modules", "lines", "largest_module", "poll_loops", "popen_sites", "run_sites",
                "stop_loops"):  # fmt: skip
        detail = ""
        short = {"poll_loops": "poll_loops", "popen_sites": "popen", "stop_loops": "stop_loops",
                 "run_sites": "run"}.get(key)  # fmt: skip
        if short:
            detail = "  " + ", ".join(
                f"{name}:{','.join(map(str, spots))}"
                for name, values in per_module.items()
                if (spots := values[short])
            )
        print(f"{key}: {figures[key]}{detail}")
    print(
        "longest functions:", ", ".join(f"{name} {n}" for n, name in figures["longest_functions"])
    )  # type: ignore[attr-defined]
    found_cycles = figures["import_cycles"]
    print(f"import cycles: {len(found_cycles)}  {found_cycles}")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
