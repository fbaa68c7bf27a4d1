"""The package's shape, read from its own source: imports go one way, no cycles, short functions.

The floors, bottom to top (docs/architecture.md):

    errors  →  files, config, text, layers  →  checkpoints  →  models  →  data  →  training  →  export  →  cli

A module may import its own subpackage and anything on a lower floor; never a higher floor and
never a sibling on its own floor (text ↔ layers). Function-level imports count: a cycle hidden
inside a function is still a cycle. Private TensorFlow modules (`tensorflow.python…`) are not
used. These checks read the code with `ast`, so they fail the moment an upward import appears.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "keras_bert_kit"

FLOORS = {
    "errors": 0,
    # `files` (atomic writes, file patterns) raises `UserError`, so it sits one floor above it.
    "files": 1, "config": 1, "text": 1, "layers": 1,
    "checkpoints": 2,
    "models": 3,
    "data": 4,
    "training": 5,
    "export": 6,
    "cli": 7,
}
# The package root (`keras_bert_kit/__init__.py`: lazy re-exports) sits above everything.
ROOT_FLOOR = 8
MAX_FUNCTION_LINES = 100


def module_name(path, package=PACKAGE):
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules(package=PACKAGE):
    """`{module name: path}` of every .py file under `package`."""
    return {module_name(p, package): p for p in sorted(package.rglob("*.py"))}


def imported_modules(path, known, package_dir=PACKAGE, root="keras_bert_kit"):
    """Modules of the package that `path` imports anywhere (function bodies included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    this = module_name(path, package_dir)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import name`: the submodule `pkg.name` when there is one, else `pkg`.
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                     for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name.startswith(root) and name != this:
                found.add(name)
    return found


def floor_of(module):
    parts = module.split(".")
    if len(parts) == 1:
        return "", ROOT_FLOOR
    return parts[1], FLOORS[parts[1]]


def layering_violations(package=PACKAGE):
    """`["a imports b (floor x → y)"]` for every import that goes up or sideways."""
    known = modules(package)
    problems = []
    for name, path in known.items():
        area, floor = floor_of(name)
        for target in imported_modules(path, known, package):
            target_area, target_floor = floor_of(target)
            if target_area == area:
                continue
            if target_floor > floor or (target_floor == floor and floor != ROOT_FLOOR):
                problems.append(f"{name} imports {target} ({area or 'root'} is floor {floor}, "
                                f"{target_area} is floor {target_floor})")
    return problems


def import_cycles(package=PACKAGE):
    """Strongly connected groups (size > 1, or a self-import) of the module import graph."""
    known = modules(package)
    graph = {name: sorted(imported_modules(path, known, package)) for name, path in known.items()}
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []
    counter = [0]

    def visit(node):  # Tarjan's algorithm; the package is small enough for recursion
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for succ in graph[node]:
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return cycles


def subpackage_cycles(package=PACKAGE):
    """Pairs of subpackages that import each other (directly)."""
    known = modules(package)
    edges = set()
    for name, path in known.items():
        area, _ = floor_of(name)
        for target in imported_modules(path, known, package):
            target_area, _ = floor_of(target)
            if area and target_area and target_area != area:
                edges.add((area, target_area))
    return sorted({tuple(sorted(e)) for e in edges if (e[1], e[0]) in edges})


def long_functions(package=PACKAGE, limit=MAX_FUNCTION_LINES):
    found = []
    for name, path in modules(package).items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > limit:
                    found.append(f"{name}.{node.name}: {length} lines")
    return found


def private_tensorflow_imports(package=PACKAGE):
    found = []
    for name, path in modules(package).items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = ([a.name for a in node.names] if isinstance(node, ast.Import)
                       else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{name}: {t}" for t in targets if t.startswith("tensorflow.python")]
    return found


def test_every_subpackage_has_a_floor():
    areas = {floor_of(name)[0] for name in modules()} - {""}
    assert areas <= set(FLOORS), f"subpackages without a floor: {areas - set(FLOORS)}"


def test_imports_go_one_way():
    assert layering_violations() == []


def test_no_module_import_cycles():
    assert import_cycles() == []


def test_no_subpackage_cycles():
    assert subpackage_cycles() == []


def test_no_private_tensorflow_modules():
    assert private_tensorflow_imports() == []


def test_no_function_over_100_lines():
    assert long_functions() == []


def _scratch_package(tmp_path, files):
    root = tmp_path / "keras_bert_kit"
    for relative, source in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source)
    return root


@pytest.mark.parametrize("files, check, expected", [
    ({"__init__.py": "", "text/__init__.py": "", "models/__init__.py": "",
      "text/a.py": "def f():\n    from keras_bert_kit.models import b\n",
      "models/b.py": "from keras_bert_kit.text import a\n"},
     "layering", ["keras_bert_kit.text.a imports keras_bert_kit.models.b (text is floor 1, "
                  "models is floor 3)"]),
    ({"__init__.py": "", "layers/__init__.py": "",
      "layers/a.py": "from keras_bert_kit.layers import b\n",
      "layers/b.py": "def f():\n    from keras_bert_kit.layers.a import g\n"},
     "cycles", [["keras_bert_kit.layers.a", "keras_bert_kit.layers.b"]]),
    ({"__init__.py": "", "text/__init__.py": "", "layers/__init__.py": "",
      "text/a.py": "from keras_bert_kit.layers import b\n", "layers/b.py": ""},
     "layering", ["keras_bert_kit.text.a imports keras_bert_kit.layers.b (text is floor 1, "
                  "layers is floor 1)"]),
    ({"__init__.py": "", "layers/__init__.py": "",
      "layers/a.py": "def f():\n" + "    x = 1\n" * 101},
     "long", ["keras_bert_kit.layers.a.f: 102 lines"]),
])
def test_the_checks_catch_a_scratch_violation(tmp_path, files, check, expected):
    """Each check fails on a scratch package that breaks its rule (so it cannot pass vacuously)."""
    root = _scratch_package(tmp_path, files)
    run = {"layering": layering_violations, "cycles": import_cycles, "long": long_functions}[check]
    assert run(root) == expected
