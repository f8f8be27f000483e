"""Structured output into a pydantic model: how to ask for it in each mode, and how to read it.

Modes, best first: `json_schema` (strict schema, the server constrains decoding), `json_object`
(JSON mode plus the schema in the prompt), `prompt` (the schema in the prompt, then parse and
repair). The client falls back to the next mode when an endpoint refuses one (HTTP 4xx on the
response_format) and remembers per endpoint which mode worked.
"""
from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from crib.agents.llm.json_repair import JSONRepairError, parse_json

MODES = ("json_schema", "json_object", "prompt")
T = TypeVar("T", bound=BaseModel)


def strict_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema made `strict`-compatible (every property required, no extras),
    as LangChain's ChatOpenAI makes it for its own structured output."""
    # langchain is heavy: it loads with the first chat model, not with this module.
    from langchain_core.utils.function_calling import convert_to_openai_function

    return convert_to_openai_function(model, strict=True)["parameters"]


def response_format(model: type[BaseModel], mode: str) -> dict[str, Any] | None:
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {
            "name": model.__name__[:64], "strict": True, "schema": strict_schema(model)}}
    if mode == "json_object":
        return {"type": "json_object"}
    return None


def instruction(model: type[BaseModel]) -> str:
    schema = json.dumps(model.model_json_schema(), separators=(",", ":"))
    return ("Reply with a single JSON object only (no prose, no code fences) that matches this "
            f"JSON schema:\n{schema}")


def messages_for(messages: list[dict], model: type[BaseModel], mode: str) -> list[dict]:
    """json_schema needs no extra words; the other modes append the schema to the last user
    message, so the stable system prompt stays first (llama.cpp reuses its prompt cache) and
    chat templates that want the system message first are satisfied."""
    if mode == "json_schema":
        return messages
    if messages and messages[-1].get("role") == "user":
        last = messages[-1]
        return [*messages[:-1], {**last, "content": f"{last['content']}\n\n{instruction(model)}"}]
    return [*messages, {"role": "user", "content": instruction(model)}]


def parse_into(text: str, model: type[T]) -> T:
    """Validate the reply; raises ValueError with a short reason (the caller wraps it)."""
    try:
        return model.model_validate_json(text)
    except ValidationError:
        pass
    try:
        data = parse_json(text)
    except JSONRepairError as exc:
        raise ValueError(str(exc)) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}"
                           for e in exc.errors()[:5])
        raise ValueError(f"reply does not match {model.__name__}: {errors}") from None
