"""JSON for the guest bootstrap without importing the `json` package.

`json` pulls in `re` and `enum`, which cost more than the rest of a trivial run's startup in
the agent tier; the C accelerator `_json` that `json` itself uses does the work here. Falls
back to `json` where `_json` is missing."""
try:
    import _json

    class _Ctx:
        strict = True
        object_hook = None
        object_pairs_hook = None
        parse_float = float
        parse_int = int
        memo: dict = {}

        @staticmethod
        def parse_constant(name):
            return {"NaN": float("nan"), "Infinity": float("inf"),
                    "-Infinity": float("-inf")}[name]

    # typeshed types the context as a make_scanner; the C type reads these attributes off any
    # object (json.JSONDecoder is what it usually gets)
    _scan = _json.make_scanner(_Ctx())  # type: ignore[arg-type]

    def _default(obj):
        raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")

    def _encoder(default):
        return _json.make_encoder(None, default or _default, _json.encode_basestring_ascii,
                                  None, ": ", ", ", False, False, True)

    def dumps(obj, default=None) -> str:
        return "".join(_encoder(default)(obj, 0))

    def loads(text):
        if isinstance(text, (bytes, bytearray)):
            text = text.decode("utf-8")
        ws = " \t\n\r"
        start = len(text) - len(text.lstrip(ws))
        obj, end = _scan(text, start)
        if text[end:].strip(ws):
            raise ValueError("extra data after the JSON value")
        return obj

except ImportError:  # pragma: no cover - every CPython has _json
    import json as _stdjson

    def dumps(obj, default=None) -> str:
        return _stdjson.dumps(obj, default=default)

    def loads(text):
        return _stdjson.loads(text)
