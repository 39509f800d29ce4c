"""Every size a person reads goes through app.core.units.format_bytes: no module writes "GB" with its own sums.

Three shapes give a home-made formatter away: an f-string that divides by a size constant (`{n / 2**30:.1f}`), an
f-string that puts a unit after a number (`{x:.0f} MB`), and a ladder of unit names ("KB", "MB", "GB"). A size
constant named like a decimal unit (MB, GB) must also mean the decimal unit, since charts and spin boxes print it.
"""

import ast
import re
from pathlib import Path

import app

APP = Path(app.__file__).parent
FORMATTER = "core/units.py"
SIZE_NAMES = {"KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB"}
DECIMAL_NAMES = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
UNIT_AFTER_NUMBER = re.compile(r"^ ?(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\b|^ B\b")


def _value(node: ast.AST):
    """The number a constant expression stands for (1024**3, 2**30, 1e9), or None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Pow, ast.Mult)):
        left, right = _value(node.left), _value(node.right)
        if left is not None and right is not None:
            return left**right if isinstance(node.op, ast.Pow) else left * right
    return None


def _is_size_divisor(node: ast.AST) -> bool:
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
    return name in SIZE_NAMES or _value(node) in {1024**2, 1024**3, 1024**4}  # 1e9 may count parameters


class _Finder(ast.NodeVisitor):
    def __init__(self, module: str):
        self.module, self.found = module, []

    def visit_JoinedStr(self, node):
        for part, following in zip(node.values, [*node.values[1:], None]):
            if not isinstance(part, ast.FormattedValue):
                continue
            divides = any(isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Div, ast.FloorDiv))
                          and _is_size_divisor(n.right) for n in ast.walk(part.value))
            unit = (isinstance(following, ast.Constant) and isinstance(following.value, str)
                    and UNIT_AFTER_NUMBER.match(following.value))
            if divides or unit:
                self.found.append(f"{self.module}:{node.lineno} writes a size in an f-string")
                break
        self.generic_visit(node)

    def visit_Tuple(self, node):
        names = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
        if {"MB", "GB"} <= names or {"MiB", "GiB"} <= names:
            self.found.append(f"{self.module}:{node.lineno} has its own ladder of units")
        self.generic_visit(node)

    visit_List = visit_Tuple

    def visit_Assign(self, node):
        for target in node.targets:
            pairs = (zip(target.elts, node.value.elts) if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple)
                     else [(target, node.value)])
            for name, value in pairs:
                if isinstance(name, ast.Name) and name.id in DECIMAL_NAMES and _value(value) not in (None, DECIMAL_NAMES[name.id]):
                    self.found.append(f"{self.module}:{node.lineno} defines {name.id} as {_value(value)} bytes")
        self.generic_visit(node)


def test_only_the_units_module_writes_sizes():
    found = []
    for path in sorted(APP.rglob("*.py")):
        module = path.relative_to(APP).as_posix()
        if module == FORMATTER or "/migrations/" in module:
            continue
        finder = _Finder(module)
        finder.visit(ast.parse(path.read_text(encoding="utf-8")))
        found += finder.found
    assert not found, "route these through app.core.units.format_bytes:\n" + "\n".join(found)


def test_the_check_catches_the_shapes_it_looks_for():
    code = (
        "GB = 1024**3\n"
        "def a(n): return f'{n / 2**30:.1f} GiB'\n"
        "def b(n): return f'{n:.0f} MB'\n"
        "UNITS = ('B', 'KB', 'MB', 'GB')\n"
        "def c(n): return f'{n // 1024}k tokens, {n / 1e9:.1f}B parameters'\n"
    )
    finder = _Finder("example.py")
    finder.visit(ast.parse(code))
    assert [line.split(":")[1].split()[0] for line in finder.found] == ["1", "2", "3", "4"]
