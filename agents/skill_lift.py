"""Turning a snippet that solved one problem into a general function (a candidate skill).

A program-of-thought snippet is a script with the problem's data written into it
(`numbers = [4, 5, 6, 10]`) that prints its answer. Crib lifts the problem's own literals out
of it without the model's help: a list, tuple or set display of the problem's numbers (all of
them, in any order, or a run of them in order) becomes the parameter `numbers`, the numbers in
the problem text in order; a string equal to the problem text becomes the parameter `text`.
The script becomes the body of a function with those parameters that returns what the script
printed. The code is only parsed and rewritten here (`ast`), never run: it runs in the sandbox.
"""
from __future__ import annotations

import ast
import re
import textwrap

from crib.memory.skills import MAX_SKILL_CHARS, SkillError

NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?")
PARAMS = ("numbers", "text")  # what a skill may take: both are read off any problem's text
# Inside the lifted script the values go by these names, so a script variable that is itself
# called `numbers` (`numbers = list(numbers[:-1])`) cannot shadow the input it was lifted from.
INNER = {"numbers": "_numbers_in", "text": "_text_in"}


def problem_numbers(text: str) -> list[int | float]:
    """The numbers in a problem's text, in order (ints where whole)."""
    out: list[int | float] = []
    for token in NUMBER_RE.findall(text):
        value = float(token)
        out.append(int(value) if value.is_integer() and "." not in token else value)
    return out


def skill_inputs(text: str, params: list[str]) -> dict:
    """The arguments a skill with `params` gets for a problem whose text is `text`."""
    values = {"numbers": problem_numbers(text), "text": text.strip()}
    return {p: values[p] for p in params if p in values}


def skill_function_name(domain: str, taken: set[str]) -> str:
    base = "solve_" + (re.sub(r"\W+", "_", domain).strip("_") or "problem")
    name, i = base, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    return name


def _number(node: ast.AST) -> int | float | None:
    """The value of a number literal (`-495` is a minus applied to 495), else None."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _number(node.operand)
        return None if inner is None else (-inner if isinstance(node.op, ast.USub) else inner)
    if (isinstance(node, ast.Constant) and isinstance(node.value, (int, float))
            and not isinstance(node.value, bool)):
        return node.value
    return None


def _run_slice(values: list, nums: list) -> tuple[int, int] | None:
    """(i, j) with nums[i:j] == values, the first such run of two or more."""
    n = len(values)
    if n < 2:
        return None
    for i in range(len(nums) - n + 1):
        if nums[i:i + n] == values:
            return i, i + n
    return None


def _numbers_expr(i: int, j: int, total: int) -> ast.expr:
    if (i, j) == (0, total):
        return ast.Name(INNER["numbers"], ast.Load())
    lower = ast.Constant(i) if i else None
    upper = None if j == total else ast.Constant(j - total)  # from the end: lengths vary
    return ast.Subscript(ast.Name(INNER["numbers"], ast.Load()), ast.Slice(lower, upper),
                         ast.Load())


class _Lifter(ast.NodeTransformer):
    def __init__(self, nums: list, text: str) -> None:
        self.nums, self.text = nums, text
        self.used: set[str] = set()
        self.covered: set[int] = set()  # indices of the numbers a lifted display took

    def _display(self, node: ast.List | ast.Tuple | ast.Set, maker: str) -> ast.AST:
        values = [v for v in map(_number, node.elts) if v is not None]
        if not node.elts or len(values) < len(node.elts):
            return self.generic_visit(node)
        total = len(self.nums)
        found = _run_slice(values, self.nums)
        if found is None and len(values) == total and sorted(values) == sorted(self.nums):
            found = (0, total)
        if found is None:
            return node
        self.used.add("numbers")
        self.covered.update(range(*found))
        return ast.Call(ast.Name(maker, ast.Load()), [_numbers_expr(*found, total)], [])

    def visit_List(self, node: ast.List) -> ast.AST:
        return self._display(node, "list") if isinstance(node.ctx, ast.Load) else node

    def visit_Tuple(self, node: ast.Tuple) -> ast.AST:
        return self._display(node, "tuple") if isinstance(node.ctx, ast.Load) else node

    def visit_Set(self, node: ast.Set) -> ast.AST:
        return self._display(node, "set")

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, str) and self.text and node.value.strip() == self.text:
            self.used.add("text")
            return ast.Name(INNER["text"], ast.Load())
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        # `if __name__ == "__main__":` must still run once the script is a function body
        if (isinstance(node.left, ast.Name) and node.left.id == "__name__"
                and len(node.comparators) == 1 and isinstance(node.comparators[0], ast.Constant)
                and node.comparators[0].value == "__main__"):
            return ast.Constant(True)
        return self.generic_visit(node)


class _ScalarLifter(ast.NodeTransformer):
    """`target = 25`, `if value == 25:` or `balance(nums, 25)` where 25 is one of the
    problem's numbers that no lifted display took, and appears once in it: the number read
    from its position (the last from the end). A wrong guess (`round(x, 2)` in a problem with
    one 2) is caught by the candidate's tests on other problems."""

    def __init__(self, nums: list, covered: set[int]) -> None:
        self.where = {v: i for i, v in enumerate(nums)
                      if i not in covered and nums.count(v) == 1}
        self.total = len(nums)
        self.used = False

    def _lift(self, node: ast.expr) -> ast.expr:
        value = _number(node)
        if value is None or value not in self.where:
            return node
        i = self.where[value]
        self.used = True
        index = i - self.total if i == self.total - 1 else i
        return ast.Subscript(ast.Name(INNER["numbers"], ast.Load()), ast.Constant(index),
                             ast.Load())

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        if len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            node.value = self._lift(node.value)
        return self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        node.left = self._lift(node.left)
        node.comparators = [self._lift(c) for c in node.comparators]
        return self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        # The 1.5B model wrote `balance_equation(list(numbers[:-1]), -19)`: left there, the
        # skill answered every other problem for the target -19.
        node.args = [self._lift(a) for a in node.args]
        for kw in node.keywords:
            kw.value = self._lift(kw.value)
        return self.generic_visit(node)


def lift_script(code: str, problem_text: str, name: str, domain: str,
                source: str = "") -> tuple[str, list[str]]:
    """(the skill's code, its parameters) from a script that solved the problem
    `problem_text`. Raises SkillError when none of the problem's literals are in it."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise SkillError(f"the snippet does not parse: {type(exc).__name__}: {exc}") from None
    lifter = _Lifter(problem_numbers(problem_text), problem_text.strip())
    tree = lifter.visit(tree)
    scalars = _ScalarLifter(lifter.nums, lifter.covered)
    tree = ast.fix_missing_locations(scalars.visit(tree))
    if scalars.used:
        lifter.used.add("numbers")
    params = [p for p in PARAMS if p in lifter.used]
    if not params:
        raise SkillError("none of the problem's own numbers or text appear in the snippet")
    if any(isinstance(n, (ast.Global, ast.Nonlocal)) for n in ast.walk(tree)):
        raise SkillError("the snippet uses global/nonlocal, which a function body cannot keep")
    body = ast.unparse(tree)
    described = {"numbers": "`numbers`: the numbers in the problem's input, in order",
                 "text": "`text`: the problem's input text"}
    signature = ", ".join(params)
    example = ", ".join(repr(v) for v in skill_inputs(problem_text, params).values())
    doc = (f"Solve a {domain} problem. " + "; ".join(described[p] for p in params) + ".\n"
           f"Returns the answer text the program printed. Example: print({name}({example}))"
           + (f"\nLearned from {source}." if source else ""))
    skill = (f"def {name}({signature}):\n"
             f"{textwrap.indent(_docstring(doc), '    ')}\n"
             "    import contextlib\n    import io\n\n"
             f"    def _program({', '.join(INNER[p] for p in params)}):\n"
             f"{textwrap.indent(body, ' ' * 8)}\n\n"
             "    _out = io.StringIO()\n"
             "    with contextlib.redirect_stdout(_out):\n"
             f"        _program({signature})\n"
             "    return _out.getvalue().strip()\n")
    if len(skill) > MAX_SKILL_CHARS:
        raise SkillError(f"the lifted skill has {len(skill)} characters; the limit is "
                         f"{MAX_SKILL_CHARS}")
    return skill, params


def _docstring(text: str) -> str:
    return '"""' + text.replace("\\", "\\\\").replace('"""', "'''") + '\n"""'


def only_definitions(code: str) -> str:
    """`code` without its top-level statements that do something when imported (a model's
    repair often ends with test calls such as `print(solve([1, 2, 3]))`, which would print
    into every run that imports the skill): only imports, definitions, assignments and the
    docstring stay. Code that does not parse is returned as it is (its tests will say why)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return code
    kept = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
            ast.Assign, ast.AnnAssign)
    body: list[ast.stmt] = [n for i, n in enumerate(tree.body) if isinstance(n, kept) or (
        i == 0 and isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    if len(body) == len(tree.body):
        return code  # nothing to drop: keep the model's text as written
    tree.body = body
    return ast.unparse(tree) + "\n"


def code_block(reply: str) -> str | None:
    """The last ```python block of a model reply (or None)."""
    blocks = re.findall(r"```(?:python|py)?[ \t]*\n(.*?)```", reply, re.S)
    return blocks[-1] if blocks else None
