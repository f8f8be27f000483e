"""The one description of the agent API (sandbox/guest/agent_api.md, what the meta-agent is
told) names exactly the prelude, each function with the signature the runtime has inside the
sandbox, and its examples import only what the prelude holds."""
import ast
import asyncio
import re

from crib.meta_search.prompts import runtime_api
from crib.sandbox.guest import AGENT_API_DOC

# Run inside the sandbox: the prelude's names and, for each callable, its signature without
# annotations, as `name(params) -> return annotation`.
SIGNATURES = '''
import inspect
import crib_runtime as rt


def plain(fn, name, drop_self=False):
    sig = inspect.signature(fn)
    params = [p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()]
    if drop_self:
        params = params[1:]
    text = name + str(sig.replace(parameters=params, return_annotation=inspect.Signature.empty))
    ret = sig.return_annotation
    return text if ret in (inspect.Signature.empty, None, "None") else f"{text} -> {ret}"


def signatures():
    out = {}
    for name in rt.PRELUDE:
        obj = getattr(rt, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            out[name] = name
        elif isinstance(obj, type):
            init = obj.__init__ if "__init__" in vars(obj) else obj.__new__
            out[name] = plain(init, name, drop_self=True)
        elif callable(obj):
            out[name] = plain(obj, name)
        else:
            out[name] = f"{name}: {type(obj).__name__}"
    out["LLMAgentBase.query_many"] = plain(rt.LLMAgentBase.query_many, "LLMAgentBase.query_many")
    out["agent"] = plain(rt.LLMAgentBase.__call__, "agent", drop_self=True)
    return out
'''


def described() -> dict[str, str]:
    """The first cell of each prelude table row: `name(...) -> ...`, `name: type` or `name`."""
    rows = re.findall(r"^\| `([^`]+)` \|", AGENT_API_DOC.read_text(), re.M)
    return {re.match(r"[\w.]+", row).group(0): row for row in rows}


def test_the_doc_names_the_prelude_with_the_runtime_signatures(sb):
    r = asyncio.run(sb.run(SIGNATURES, tier="agent", entry="signatures"))
    assert r.ok, (r.error, r.stderr)
    actual = r.value
    doc = described()
    prelude = set(actual) - {"LLMAgentBase.query_many", "agent"}
    assert prelude <= set(doc), f"prelude names the doc leaves out: {prelude - set(doc)}"
    assert set(doc) <= set(actual), f"names the runtime lacks: {set(doc) - set(actual)}"
    for name, row in doc.items():
        assert row == actual[name], name
    # The call of a block, described in prose, is the runtime's too.
    assert f"`{actual['agent']}`" in AGENT_API_DOC.read_text()


def test_the_doc_examples_import_only_the_prelude_and_define_forward_task(sb):
    code = "import crib_runtime\ndef names():\n    return list(crib_runtime.PRELUDE)\n"
    r = asyncio.run(sb.run(code, tier="agent", entry="names"))
    prelude = set(r.value)
    blocks = re.findall(r"```python\n(.*?)```", AGENT_API_DOC.read_text(), re.S)
    assert len(blocks) >= 2
    for code in blocks:
        tree = ast.parse(code)
        imported = {a.name for n in tree.body if isinstance(n, ast.ImportFrom)
                    and n.module == "crib_runtime" for a in n.names}
        assert imported and imported <= prelude
        [forward] = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
        assert (forward.name, [a.arg for a in forward.args.args]) == ("forward", ["task"])


def test_the_meta_agent_is_told_this_doc():
    text = runtime_api()
    assert AGENT_API_DOC.read_text().strip() in text
    assert "fields=" not in text and "timeout_s" not in text  # what the old built-in text named
