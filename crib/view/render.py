"""Template helpers of the viewer: number formats, and code highlighted by Pygments.

Everything that returns `Markup` escapes its input itself (Pygments escapes the code it
highlights): no helper passes a text through unescaped.
"""
from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from jinja2 import Undefined
from markupsafe import Markup, escape


def highlight(code: Any, language: str = "python") -> Markup:
    from pygments import highlight as pyg
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name

    text = code if isinstance(code, str) else json.dumps(code, indent=2, default=str)
    return Markup(pyg(text, get_lexer_by_name(language), HtmlFormatter()))


@lru_cache(maxsize=1)
def pygments_css() -> str:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter().get_style_defs(".highlight")


def _given(value: Any) -> Any:
    """None for a field the record does not have (a chat run has no accuracy)."""
    return None if isinstance(value, Undefined) else value


def num(value: Any, digits: int = 3) -> str:
    value = _given(value)
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def usd(value: Any) -> str:
    value = _given(value)
    return "–" if value is None else f"${float(value):.4f}"


def interval(row: Any, value: str = "accuracy") -> Markup:
    get = row.get if isinstance(row, dict) else lambda k, d=None: getattr(row, k, d)
    v, lo, hi = (_given(get(value if isinstance(row, dict) else "median")),
                 _given(get("ci_low")), _given(get("ci_high")))
    if v is None:
        return Markup("–")
    if lo is None or hi is None:
        return escape(num(v))
    return escape(f"{num(v)} [{num(lo)}, {num(hi)}]")


def when(value: Any) -> str:
    value = _given(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return "" if value is None else str(value)[:19]


def verdict(passed: Any) -> Markup:
    passed = _given(passed)
    cls, text = {True: ("pass", "pass"), False: ("fail", "fail")}.get(passed, ("unknown", "?"))
    return Markup('<span class="badge {}">{}</span>').format(cls, text)


def url(value: Any) -> str:
    """A path segment (ids may hold ':' or '/': kept readable, the rest quoted)."""
    return quote(str(value), safe=":")


def as_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


FILTERS = {"highlight": highlight, "num": num, "usd": usd, "interval": interval, "when": when,
           "verdict": verdict, "url": url, "as_json": as_json}
GLOBALS: dict[str, Any] = {}
