"""The import rules between and inside the four stages, read from the source (no module is imported).

edge/ runs on a device without TensorFlow, Keras, pandas or the workstation stages; edge/common/ is what every
stage shares, so it depends on nothing else in edge/; train/ and convert/ take from edge/ only what describes a
model (common, contract, model_folder, classifier), never the runtime. No module imports itself through others,
at start-up or lazily inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

STAGES = ("edge", "train", "convert", "benchmarks")
NOT_ON_THE_DEVICE = {"tensorflow", "keras", "pandas", "train", "convert", "benchmarks"}
MODEL_ONLY = ("edge.common", "edge.contract", "edge.model_folder", "edge.classifier")
# Training measures how each detector frames the training faces (the contract's `framing`) with the device's own
# detectors, so the framing is the device's by construction; training from photos finds their faces with the
# device's detectors and cuts them with its crop (and reads the image kinds its folder source reads), so training
# crops are the device's crops; `--crop-scale` widens the framing of every detector the device has.
ALSO_ALLOWED = {
    "train.framing": ("edge.detectors",),
    "train.photos": ("edge.detectors", "edge.pipeline.crop", "edge.sources.base"),
    "train.run": ("edge.detectors.registry",),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for stage in STAGES for path in sorted((ROOT / stage).rglob("*.py"))}


def imports(name: str) -> set[str]:
    """Every module `name` imports, anywhere in it (a function's lazy import counts): `from a import b` is
    a.b when that is one of ours, else a."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
    return found


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_every_stage_has_modules() -> None:
    for stage in STAGES:
        assert any(within(name, stage) for name in MODULES), stage


@pytest.mark.parametrize("name", sorted(n for n in MODULES if within(n, "edge")))
def test_edge_imports_no_workstation_library_or_stage(name: str) -> None:
    assert not {m for m in imports(name) if m.split(".")[0] in NOT_ON_THE_DEVICE}


@pytest.mark.parametrize("name", sorted(n for n in MODULES if within(n, "edge.common")))
def test_common_imports_nothing_else_from_edge(name: str) -> None:
    assert not {m for m in imports(name) if within(m, "edge") and not within(m, "edge.common")}


@pytest.mark.parametrize("name", sorted(n for n in MODULES if within(n, "train") or within(n, "convert")))
def test_train_and_convert_take_only_the_model_side_of_edge(name: str) -> None:
    allowed = MODEL_ONLY + ALSO_ALLOWED.get(name, ())
    runtime = {m for m in imports(name) if within(m, "edge") and not any(within(m, p) for p in allowed)}
    assert not runtime


def test_train_never_imports_convert_or_benchmarks() -> None:
    """Data flows train -> convert -> benchmarks, never back."""
    for name in (n for n in MODULES if within(n, "train")):
        assert not {m for m in imports(name) if m.split(".")[0] in ("convert", "benchmarks")}, name


@pytest.mark.parametrize("stage", STAGES)
def test_no_stage_imports_another_stages_cli_or_report(stage: str) -> None:
    others = set(STAGES) - {stage}
    for name in (n for n in MODULES if within(n, stage)):
        sideways = {m for m in imports(name) if m.split(".")[0] in others and m.endswith((".cli", ".report"))}
        assert not sideways, name


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module, or of one that imports itself (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycles_finds_a_loop_and_passes_a_chain() -> None:
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_through_others() -> None:
    graph = {name: imports(name) & MODULES.keys() for name in MODULES}
    assert cycles(graph) == []


MAX_FUNCTION_LINES = 70


def test_no_function_is_longer_than_a_screen() -> None:
    long = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {lines} lines")
    assert long == []
