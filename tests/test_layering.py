"""The package imports one way: no module reaches back, even lazily, to one that imports it.

A circle between two modules means one concept lives in two homes (prompts rendering data that
the data module builds from prompts); a lazy import inside a function hides it from Python but
not from a reader, so every `import` statement counts here, wherever it stands.
"""

import ast
from pathlib import Path

import actrain

SRC = Path(actrain.__file__).parent


def _module_name(path: Path) -> str:
    parts = ["actrain", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The actrain modules that `path` imports anywhere in its text."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from actrain.stages import act` names a module; `from actrain.runtime.io import x` not.
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        found |= {name for name in names if name in modules}
    return found


def _import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in SRC.rglob("*.py")}
    modules = set(files)
    # A package's own `__init__` is where `from actrain.x import y` lands first; it is left out
    # so that re-exports (the lazy `actrain/__init__.py`) do not count as a circle.
    return {name: _imports(path, modules) - {name, "actrain"} for name, path in files.items()}


def _find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (circle := visit(nxt)):
                return circle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (circle := visit(node)):
            return circle
    return None


def test_the_package_has_no_import_circle():
    circle = _find_circle(_import_graph())
    assert circle is None, "import circle: " + " -> ".join(circle or [])


def test_a_circle_is_found():
    """The check itself: a planted circle is reported with its path."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert _find_circle(graph) == ["a", "b", "c", "a"]
    assert _find_circle({"a": {"b"}, "b": set()}) is None


def test_the_graph_sees_lazy_imports():
    graph = _import_graph()
    # `stages/act.py` imports `act_supervised` inside a function: it must be an arrow.
    assert "actrain.stages.act_supervised" in graph["actrain.stages.act"]
    assert "actrain.data.kway" in graph["actrain.stages.act_supervised"]


def test_only_the_run_folder_spells_out_paths_inside_a_run_folder():
    """`runtime/run_folder.py` owns every path of a run folder: a file name or step folder written out
    anywhere else is a second home for it."""
    import re

    spelled = re.compile(r'/ "(agent|critic|trajectories|pairs|hard|plots|outcomes|rationales)"'
                         r'|"(stages\.json|results\.json|report\.md|stats\.json)"'
                         r'|\.predictions\.jsonl|\.episodes\.jsonl|\.next_action\.jsonl')
    code = re.compile(r"`[^`]*`")  # docs may name the files they describe
    found = [f"{p.relative_to(SRC)}:{n}" for p in SRC.rglob("*.py") if p.name != "run_folder.py"
             for n, line in enumerate(p.read_text().splitlines(), 1)
             if spelled.search(code.sub("", line)) and not line.lstrip().startswith("#")
             and "(not a run folder)" not in line]
    assert not found, found


# The wings, from the top: a module imports only from wings below its own (or its own wing).
# The CLI and the GPU check drive runs; a run writes its report from what stages and
# evaluations measured; data steps call the runtime (models, generation, files) on the
# environments; prompts and rewards render and score text; the config and errors are the floor.
WINGS = ("cli", "gpu_check", "run", "report", "stages", "eval", "data", "runtime", "envs",
         "rewards", "prompts", "records", "config", "errors")
TOP = {"cli", "gpu_check"}  # entry points: neither imports the other


def _wing(module: str) -> str:
    part = module.split(".")[1]
    return "cli" if part == "__main__" else part


def _upward(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a module from its own wing's level or above (other than its own wing)."""
    ranks = {wing: i for i, wing in enumerate(WINGS)}
    return sorted(f"{m} -> {t}" for m, targets in graph.items() if m != "actrain"
                  for t in targets if _wing(t) != _wing(m)
                  and (ranks[_wing(t)] <= ranks[_wing(m)] or {_wing(t), _wing(m)} <= TOP))


def test_the_wings_import_one_way():
    graph = _import_graph()
    assert {_wing(m) for m in graph if m != "actrain"} <= set(WINGS), "a wing not in WINGS"
    upward = _upward(graph)
    assert not upward, upward


def test_an_upward_import_is_found():
    graph = {"actrain.data.alternatives": {"actrain.eval.rule_critics", "actrain.prompts"},
             "actrain.cli.main": {"actrain.gpu_check.cli", "actrain.run.pipeline"},
             "actrain.run.pipeline": {"actrain.data.alternatives"}}
    assert _upward(graph) == ["actrain.cli.main -> actrain.gpu_check.cli",
                              "actrain.data.alternatives -> actrain.eval.rule_critics"]
