"""Code synthesis: write a Python function from a description and examples.

Problem input: {"description", "function_name", "signature"?, "examples": [{"args": [...],
"output": ...}]}; target: {"tests": [same shape]} (or the list itself), the hidden tests.
Answers are Python source (taken from the last fenced block that defines a function) and are
untrusted: they run only through the sandbox's snippet tier, via the `run_snippet` callable the
wiring passes in. The snippet holds the candidate and the test *arguments*, never the expected
outputs; it prints one tagged JSON line per test and the host compares, so a candidate cannot
read or fake the expectations. `score` = fraction of hidden tests passed; `check` (the loop's
verifier) runs the visible examples only.

`generate(n, seed)` makes tasks from the hidden reference functions in `code_library`: visible
examples and hidden tests are edge cases plus seeded random inputs answered by the reference
(differential testing); `differential(...)` draws fresh random inputs for a stricter score.
"""

from __future__ import annotations

import copy
import json
import math
import random
import re
from typing import Any

from crib.agents.domains import extract as ex
from crib.agents.domains.base import Domain, DomainError
from crib.agents.domains.code_library import BY_NAME, REFERENCES, Reference
from crib.agents.problems import Problem
from crib.agents.verdict import Verdict

TAG = "@@crib-test@@"
PER_TEST_S = 2.0
N_EXAMPLES = 3
N_HIDDEN = 15
MAX_CODE_CHARS = 50_000

# Runs INSIDE the sandbox only: the exec below is the guest defining the answer, never the host.
_HARNESS = r'''
import contextlib, io, json, signal, sys
_TAG = {tag!r}
_NAME = {name!r}
_ARGS = json.loads({args!r})
_PER_TEST = {per_test!r}
def _emit(obj):
    sys.__stdout__.write(_TAG + json.dumps(obj) + "\n"); sys.__stdout__.flush()
class _Timeout(BaseException):
    pass
def _alarm(signum, frame):
    raise _Timeout()
try:
    signal.signal(signal.SIGPROF, _alarm); _alarms = True
except Exception:
    _alarms = False
_ns = {{"__name__": "__answer__"}}
try:
    if _alarms: signal.setitimer(signal.ITIMER_PROF, _PER_TEST)
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile({code!r}, "<answer>", "exec"), _ns)
    if _alarms: signal.setitimer(signal.ITIMER_PROF, 0)
except _Timeout:
    _emit({{"load_error": "defining the function took more than %s s of CPU time" % _PER_TEST}})
    sys.exit(0)
except BaseException as e:
    if _alarms: signal.setitimer(signal.ITIMER_PROF, 0)
    _emit({{"load_error": (type(e).__name__ + ": " + str(e))[:300]}}); sys.exit(0)
_fn = _ns.get(_NAME)
if not callable(_fn):
    _emit({{"load_error": "the answer defines no function named " + _NAME}}); sys.exit(0)
_timeouts = 0
for _i, _a in enumerate(_ARGS):
    if _timeouts >= 2:
        _emit({{"i": _i, "error": "skipped after repeated timeouts"}}); continue
    try:
        if _alarms: signal.setitimer(signal.ITIMER_PROF, _PER_TEST)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                _out = _fn(*_a)
        finally:
            if _alarms: signal.setitimer(signal.ITIMER_PROF, 0)
        try:
            _enc = json.dumps(_out)
        except (TypeError, ValueError):
            _emit({{"i": _i, "error": "returned a %s, not plain data" % type(_out).__name__}})
            continue
        if len(_enc) > 100000:
            _emit({{"i": _i, "error": "returned a value too large to compare"}}); continue
        sys.__stdout__.write(_TAG + '{{"i": %d, "out": %s}}\n' % (_i, _enc))
        sys.__stdout__.flush()
    except _Timeout:
        _timeouts += 1
        _emit({{"i": _i, "error": "timed out after %s s of CPU time" % _PER_TEST}})
    except BaseException as e:
        _emit({{"i": _i, "error": (type(e).__name__ + ": " + str(e))[:300]}})
'''


def build_snippet(code: str, function_name: str, args_list: list[list[Any]],
                  per_test_s: float = PER_TEST_S) -> str:
    """The program run in the sandbox: define the answer, call it on each argument list."""
    if not function_name.isidentifier():
        raise DomainError(f"not a valid function name: {function_name!r}")
    return _HARNESS.format(tag=TAG, name=function_name, args=json.dumps(args_list),
                           per_test=float(per_test_s), code=code)


def parse_results(stdout: str, n: int) -> tuple[list[dict[str, Any] | None], str | None]:
    """Per-test result dicts (None = never reported) and a load error, from tagged stdout."""
    results: list[dict[str, Any] | None] = [None] * n
    load_error = None
    for line in stdout.splitlines():
        if not line.startswith(TAG):
            continue
        try:
            obj = json.loads(line[len(TAG):])
        except json.JSONDecodeError:
            continue
        if not isinstance(obj, dict):
            continue
        if "load_error" in obj and load_error is None:
            load_error = str(obj["load_error"])
        i = obj.get("i")
        if isinstance(i, int) and 0 <= i < n and results[i] is None:
            results[i] = obj
    return results, load_error


def same(got: Any, want: Any) -> bool:
    """Equality after a JSON round trip; floats within 1e-9 relative."""
    if isinstance(want, float) or isinstance(got, float):
        if isinstance(got, bool) or isinstance(want, bool):
            return got is want
        if isinstance(got, (int, float)) and isinstance(want, (int, float)):
            return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)
        return False
    if isinstance(want, list) and isinstance(got, list):
        return len(got) == len(want) and all(same(g, w) for g, w in zip(got, want))
    if isinstance(want, dict) and isinstance(got, dict):
        return got.keys() == want.keys() and all(same(got[k], want[k]) for k in want)
    return type(got) is type(want) and got == want


def _call_text(name: str, args: list[Any]) -> str:
    text = f"{name}({', '.join(repr(a) for a in args)})"
    return text if len(text) <= 200 else text[:197] + "..."


def _tests_of(value: Any) -> list[dict[str, Any]]:
    tests = value.get("tests") if isinstance(value, dict) else value
    if not isinstance(tests, list) or not all(
            isinstance(t, dict) and isinstance(t.get("args"), list) and "output" in t
            for t in tests):
        raise ValueError('tests must be a list of {"args": [...], "output": ...}')
    return tests


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value))  # tuples -> lists, as the harness sees them


def make_task(ref: Reference, seed: int, task_id: str | None = None) -> Problem:
    """One task from a reference: 3 visible examples, 15 hidden tests (edge + random)."""
    rng = random.Random(f"{ref.name}:{seed}")
    args_pool: list[list[Any]] = [_plain(list(a)) for a in ref.edge]
    seen = {json.dumps(a) for a in args_pool}
    tries = 0
    while len(args_pool) < N_EXAMPLES + N_HIDDEN + len(ref.edge) and tries < 500:
        tries += 1
        args = _plain(list(ref.gen(rng)))
        key = json.dumps(args)
        if key not in seen:
            seen.add(key)
            args_pool.append(args)
    cases = [{"args": a, "output": _plain(ref.fn(*copy.deepcopy(a)))} for a in args_pool]
    edge, rand = cases[:len(ref.edge)], cases[len(ref.edge):]
    examples = rand[:N_EXAMPLES]
    hidden = (edge + rand[N_EXAMPLES:])[:N_HIDDEN]
    return Problem(
        id=task_id or f"code-{ref.name}-{seed}",
        input={"description": ref.description, "function_name": ref.name,
               "signature": ref.signature, "examples": examples},
        target={"tests": hidden},
        metadata={"reference": ref.name, "seed": seed, "generated": True})


class CodeSynthesis(Domain):
    name = "code-synthesis"
    description = "Write a Python function from a description and examples (hidden tests)"
    answer_format = (
        "Write the complete Python function with exactly the given name and parameters, in one "
        "fenced ```python block at the end of your reply. Put any imports inside the block. Do "
        "not read input, print, or include tests; the function is called directly."
    )
    has_checker = True
    can_generate = True
    # CPU-time limit for one call of the answer (inside the sandbox). CPU, not wall time, so a
    # loaded machine does not fail correct answers; sleeping answers hit the run's wall timeout.
    per_test_s = PER_TEST_S

    def validate_input(self, problem: Problem) -> None:
        data = problem.input
        if not isinstance(data, dict) or not isinstance(data.get("description"), str):
            raise ValueError('code-synthesis input must be an object with "description" and '
                             '"function_name"')
        name = data.get("function_name")
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"code-synthesis function_name must be an identifier, got {name!r}")
        _tests_of(data.get("examples", []))
        if problem.target is not None:
            _tests_of(problem.target)

    def render(self, problem: Problem) -> str:
        self.validate_input(problem)
        data = problem.input
        assert isinstance(data, dict)
        name = data["function_name"]
        lines = [f"Write a Python function `{data.get('signature') or name}`.", "",
                 data["description"]]
        examples = _tests_of(data.get("examples", []))
        if examples:
            lines += ["", "Examples:"]
            lines += [f"    {_call_text(name, t['args'])} == {t['output']!r}"
                      for t in examples]
        return "\n".join(lines)

    def extract(self, text: str | None) -> str | None:
        text = ex.clip(text)
        inside = ex.tagged(text)
        if inside is not None and "def " in inside:  # <answer>code</answer>: the code alone
            text = inside if "```" in inside else f"```python\n{inside}\n```"
        blocks = ex.fenced_blocks(text)
        with_def = [b for b in blocks if re.search(r"^\s*def \w+\s*\(", b, re.MULTILINE)]
        for block in reversed(with_def):
            return block.strip("\n") + "\n"
        m = re.search(r"^(?:from |import |def )", text, re.MULTILINE)  # unfenced code
        if m and "def " in text[m.start():]:
            return text[m.start():].strip("\n") + "\n"
        return None

    async def run_tests(self, code: str, function_name: str,
                        tests: list[dict[str, Any]]) -> tuple[int, list[str]]:
        """(number passed, failure messages) for `code` on `tests`, run in the sandbox."""
        if self.run_snippet is None:
            raise DomainError("code-synthesis needs the sandbox's snippet runner (run_snippet) "
                              "to execute answers; it never runs them in the host process")
        if not tests:
            return 0, []
        if len(code) > MAX_CODE_CHARS:
            return 0, [f"the answer is too long ({len(code)} characters)"]
        snippet = build_snippet(code, function_name, [t["args"] for t in tests], self.per_test_s)
        # Two timeouts end the run (see the harness), so this bound is generous, not multiplied.
        timeout = 2.0 + 3 * self.per_test_s + 0.05 * len(tests)
        run = await self.run_snippet(snippet, timeout)
        results, load_error = parse_results(str(run.get("stdout") or ""), len(tests))
        if load_error:
            return 0, [f"the code failed before any test ran: {load_error}"]
        passed, failures = 0, []
        for test, res in zip(tests, results):
            call = _call_text(function_name, test["args"])
            if res is None:
                why = run.get("error") or (str(run.get("stderr") or "").strip()[-300:]) or \
                    "the program exited or was stopped before reporting"
                failures.append(f"{call}: did not finish: {why}")
            elif "error" in res:
                failures.append(f"{call} raised/failed: {res['error']}")
            elif same(res.get("out"), test["output"]):
                passed += 1
            else:
                got = repr(res.get("out"))
                failures.append(f"{call} returned {got[:200]}, expected "
                                f"{test['output']!r:.200}")
        return passed, failures

    async def score(self, problem: Problem, answer: str | None) -> float:
        tests = _tests_of(problem.target) if problem.target is not None else []
        if not answer or not tests:
            return 0.0
        passed, _ = await self.run_tests(answer, _name(problem), tests)
        return passed / len(tests)

    async def check(self, problem: Problem, answer: str | None) -> Verdict | None:
        data = problem.input if isinstance(problem.input, dict) else {}
        examples = _tests_of(data.get("examples", []))
        if not examples:
            return None  # nothing visible to check against: the loop gets no verdict here
        if not answer:
            return Verdict(passed=False, score=0.0, verifier="code-examples",
                           feedback="no code found: give the function in a ```python block")
        passed, failures = await self.run_tests(answer, _name(problem), examples)
        ok = passed == len(examples)
        feedback = (f"all {passed} visible examples pass" if ok else
                    f"{passed}/{len(examples)} visible examples pass. " + " ".join(failures[:3]))
        return Verdict(passed=ok, score=passed / len(examples), feedback=feedback,
                       verifier="code-examples")

    def generate(self, n: int, seed: int = 0) -> list[Problem]:
        rng = random.Random(seed)
        out: list[Problem] = []
        while len(out) < n:
            order = list(REFERENCES)
            rng.shuffle(order)
            for ref in order[: n - len(out)]:
                sub = rng.randrange(10**9)
                out.append(make_task(ref, sub, task_id=f"code-{seed}-{len(out):04d}-{ref.name}"))
        return out

    async def differential(self, problem: Problem, answer: str, n: int = 50,
                           seed: int = 0) -> float:
        """Fraction of `n` fresh random inputs where the answer agrees with the reference."""
        ref = BY_NAME.get(str(problem.metadata.get("reference")))
        if ref is None:
            raise DomainError(f"{problem.id} has no reference function for differential testing")
        rng = random.Random(f"diff:{ref.name}:{seed}")
        args = [_plain(list(ref.gen(rng))) for _ in range(n)]
        tests = [{"args": a, "output": _plain(ref.fn(*copy.deepcopy(a)))} for a in args]
        passed, _ = await self.run_tests(answer, ref.name, tests)
        return passed / n if n else 0.0


def _name(problem: Problem) -> str:
    data = problem.input if isinstance(problem.input, dict) else {}
    name = data.get("function_name")
    if not isinstance(name, str) or not name.isidentifier():
        raise DomainError(f"{problem.id}: code-synthesis input needs a function_name")
    return name
