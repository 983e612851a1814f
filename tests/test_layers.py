"""Issue 11 items 1 and 7: the layers of docs/design.md hold (every import, lazy ones included, goes
to the same layer or one above it in the list), no import cycle, and every op of the spec language
is handled by every per-op table (build, trace, viz, keras mapping)."""

from __future__ import annotations

import ast
import typing
from pathlib import Path

import pytest

import inceptionkit
from inceptionkit import build, spec, trace, viz
from inceptionkit.weights import keras

PACKAGE = Path(inceptionkit.__file__).parent

# docs/design.md, "How inceptionkit is built": the layer of each module (a name covers its submodules)
LAYERS = {
    1: ("errors", "fileio", "preprocess", "meta", "images", "text", "devices", "settings", "loader", "_fork_server", "choices", "lazy"),
    2: ("spec", "archs", "weight_sets", "registry"),
    3: ("trace", "calculator"),
    4: ("layers", "build", "model", "fold"),
    5: ("weights",),
    6: ("factory",),
    7: (
        "inference",
        "data",
        "evaluate",
        "train",
        "engines",
        "bench",
        "metrics",
        "summary",
        "viz",
    ),
    8: ("cli", "commands", "__main__", ""),  # "": the package itself (its __init__ gathers the API)
}


def layer_of(module: str) -> int:
    """The layer of ``inceptionkit.<module>`` (``module`` relative to the package, "" for it)."""
    top = module.split(".")[0]
    for n, names in LAYERS.items():
        if top in names:
            return n
    raise AssertionError(f"inceptionkit.{module} is in no layer: add it to docs/design.md and LAYERS here")


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """The inceptionkit modules an import statement names (relative to the package)."""
    base = importer.split(".") if importer else []
    if not is_package:
        base = base[:-1]
    if node.level:
        base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
        target = [*base, *(node.module.split(".") if node.module else [])]
    elif node.module and node.module.split(".")[0] == "inceptionkit":
        target = node.module.split(".")[1:]
    else:
        return []
    out = []
    for alias in node.names:  # `from .. import viz`: a submodule, else a name of the module
        sub = ".".join([*target, alias.name])
        out.append(sub if sub in MODULES else ".".join(target))
    return out


def _imports(path: Path) -> set[str]:
    name, tree = _module_name(path), ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):  # every import, at the top or inside a function
        if isinstance(node, ast.ImportFrom):
            found.update(_resolve(name, path.name == "__init__.py", node))
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".", 1)[1] for a in node.names if a.name.startswith("inceptionkit."))
    return found - {name}


FILES = sorted(PACKAGE.rglob("*.py"))
MODULES = {_module_name(p) for p in FILES}
GRAPH = {_module_name(p): _imports(p) for p in FILES}


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_go_to_the_same_layer_or_above(module):
    here = layer_of(module)
    wrong = sorted(m for m in GRAPH[module] if layer_of(m) > here)
    assert not wrong, f"inceptionkit.{module} (layer {here}) imports from below: " + ", ".join(
        f"{m} (layer {layer_of(m)})" for m in wrong
    )


def test_no_import_cycle():
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(GRAPH.get(m, ())):
            if state.get(n) == 1:
                cycle = path[path.index(n) :] + [n] if n in path else [m, n]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n, [*path, n])
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m, [m])


def test_the_layer_table_is_the_design_documents():
    doc = (PACKAGE.parents[1] / "docs" / "design.md").read_text(encoding="utf-8")
    for names in LAYERS.values():
        for name in names:
            if name and name != "__main__":
                assert f"`{name}" in doc, f"docs/design.md does not place {name}"


OPS = typing.get_args(spec.Op)


def _handles(table, cls: type) -> bool:
    return table.dispatch(cls) is not table.dispatch(object)


def test_the_op_union_is_every_op_class_of_the_spec_language():
    defined = {
        obj
        for obj in vars(spec).values()
        if isinstance(obj, type) and obj.__module__ == spec.__name__ and "__dataclass_fields__" in vars(obj)
    }
    assert set(OPS) == defined - {spec.Style, spec.Aux, spec.NetSpec}
    assert len(OPS) == 8  # Conv, SepConv, Pool, AdaptivePool, LRN, Act, Cat, Residual


@pytest.mark.parametrize("op", OPS, ids=lambda c: c.__name__)
def test_every_op_is_handled_by_every_table(op):
    assert _handles(build.build_op, op), f"build.build_op has no rule for {op.__name__}"
    assert _handles(trace.trace_op, op), f"trace.trace_op has no rule for {op.__name__}"
    assert _handles(viz.op_label, op) or _handles(viz.layout, op), f"viz draws no {op.__name__}"
    assert _handles(keras._walk, op) or op in keras.NO_KERAS_LAYER, f"keras mapping: {op.__name__}"


def test_every_module_the_layer_table_names_exists():
    tops = {m.split(".")[0] for m in MODULES}
    gone = sorted(n for names in LAYERS.values() for n in names if n not in tops)
    assert not gone, f"LAYERS (and docs/design.md) name modules that do not exist: {gone}"


def test_modules_and_commands_stay_small():
    """Issue 17 item 3: no module over 400 lines; in ``commands/`` (argument parsing, one library call,
    printing) no function over 40 lines but ``register``, which adds the command's arguments."""
    long_modules = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert long_modules == {}
    long_functions = [
        f"{p.name}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for p in sorted((PACKAGE / "commands").glob("*.py"))
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name != "register"
        and node.end_lineno - node.lineno + 1 > 40
    ]
    assert long_functions == []
    assert len(list((PACKAGE / "commands").glob("*.py"))) > 10  # the walk found the commands
