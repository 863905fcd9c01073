"""The code's shape: size limits, and an import-layer contract that covers every package.

* No function over :data:`MAX_FUNCTION_LINES` lines and no module over
  :data:`MAX_MODULE_LINES` lines in the shipped packages, the benchmarks and the
  scripts (decorators and docstrings count; tests are not held to it).
* Every child of ``greenmon`` and every shipped top-level package is placed in the
  layers contract of ``[tool.importlinter]`` in pyproject.toml, so a new package cannot
  slip past the contract that ``lint-imports`` checks in scripts/test.sh.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400

#: Over the limits in files other helpers of issue 12 are changing at the same time;
#: each entry must be fixed and removed at merge (the test fails once it is stale).
KNOWN_OVERSIZE: dict[str, str] = {}


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))


def _shipped_packages() -> list[str]:
    include = _pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    return sorted(p.rstrip("*") for p in include)


def _sources() -> Iterator[Path]:
    for top in [*_shipped_packages(), "benchmarks", "scripts"]:
        yield from sorted((ROOT / top).rglob("*.py"))


def _oversize(text: str, name: str) -> Iterator[tuple[str, int]]:
    """``(module, lines)`` and ``(module:function, lines)`` over the limits."""
    lines = len(text.splitlines())
    if lines > MAX_MODULE_LINES:
        yield name, lines
    for node in ast.walk(ast.parse(text, filename=name)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            length = (node.end_lineno or node.lineno) - first + 1
            if length > MAX_FUNCTION_LINES:
                yield f"{name}:{node.name}", length


def test_no_function_over_60_lines_and_no_module_over_400() -> None:
    found = {
        what: lines
        for path in _sources()
        for what, lines in _oversize(path.read_text("utf-8"), path.relative_to(ROOT).as_posix())
    }
    new = {k: v for k, v in found.items() if k not in KNOWN_OVERSIZE}
    assert not new, (
        f"over {MAX_FUNCTION_LINES} lines a function or {MAX_MODULE_LINES} a module "
        f"(lines): {new}; split them"
    )
    stale = sorted(set(KNOWN_OVERSIZE) - set(found))
    assert not stale, f"fixed, remove from KNOWN_OVERSIZE: {stale}"


def test_the_size_check_counts_decorators_and_module_lines() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES - 2))
    fits = f"@staticmethod\ndef fits() -> None:\n{body}"  # 60 lines with the decorator
    over = f"@staticmethod\n@staticmethod\ndef over() -> None:\n{body}"  # 61
    assert dict(_oversize(fits, "m")) == {}
    assert dict(_oversize(over, "m")) == {"m:over": MAX_FUNCTION_LINES + 1}
    long_module = "x = 1\n" * (MAX_MODULE_LINES + 1)
    assert dict(_oversize(long_module, "m")) == {"m": MAX_MODULE_LINES + 1}
    assert dict(_oversize("x = 1\n" * MAX_MODULE_LINES, "m")) == {}


def _layer_modules() -> set[str]:
    contracts = _pyproject()["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["type"] == "layers")["layers"]
    return {m.strip().strip("()") for layer in layers for m in re.split(r"[|:]", layer)}


def test_every_package_is_in_the_import_layers() -> None:
    config = _pyproject()["tool"]["importlinter"]
    assert sorted(config["root_packages"]) == _shipped_packages()
    children = {
        f"greenmon.{p.stem if p.is_file() else p.name}"
        for p in (ROOT / "greenmon").iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    }
    layered = _layer_modules()
    missing = sorted(children - layered)
    assert not missing, f"add to the layers contract in pyproject.toml: {missing}"
    services = {"alerts", "collector", "dashboards", "processor"}
    assert services <= layered
