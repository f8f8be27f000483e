"""The LangChain chat model behind a role, and what the client reads from its replies.

Every call (completion, structured output, stream) goes through LangChain's chat-model
interface: `ChatOpenAI` (which drives the `openai` SDK) for an OpenAI-compatible endpoint, the
default, or `init_chat_model` for any other provider LangChain supports (a role's `provider`,
e.g. "anthropic"; needs `pip install 'crib[providers]'` and the provider's package). LangChain's
and the SDK's own retries are off: the client retries (agents/llm/retry.py). A provider's
package may keep one HTTP client per process, bound to the first event loop that used it: with
a provider, make all calls from one loop (crib does).
"""
from __future__ import annotations

from typing import Any

from crib.agents.llm.errors import LLMError
from crib.agents.llm.settings import ModelSettings

OPENAI_KEY_ENV = "OPENAI_API_KEY"


def build_chat_model(settings: ModelSettings, model: str, base_url: str | None,
                     api_key: str | None, connections: int) -> Any:
    """A chat model for one role on one event loop. `api_key` is None when the provider's
    package should read its own key variable; `connections` sizes the HTTP pool (OpenAI path)."""
    # langchain and the openai SDK are heavy: they load when the first chat model is built.
    if settings.provider is None:
        import httpx2  # the SDK's own httpx fork (openai >= 3)
        from langchain_openai import ChatOpenAI
        from openai import DefaultAioHttpClient

        # The SDK's aiohttp transport (openai[aiohttp]): ≈3 ms of CPU a call against ≈7–13 ms
        # on httpx's own (docs/performance.md), which kept a batch from its calls in flight.
        # The pool as large as the endpoint's concurrency limit: the SDK's default (100
        # connections, 20 kept alive) would close and reopen connections above 20 in flight.
        http = DefaultAioHttpClient(timeout=settings.timeout_s, limits=httpx2.Limits(
            max_connections=connections, max_keepalive_connections=connections))
        return ChatOpenAI(model=model, base_url=base_url, api_key=api_key, max_retries=0,
                          timeout=settings.timeout_s, stream_usage=True, http_async_client=http)
    try:
        from langchain.chat_models import init_chat_model  # optional (crib[providers])
    except ImportError:
        raise LLMError(f"provider {settings.provider!r} needs LangChain's init_chat_model: "
                       "pip install 'crib[providers]'") from None
    options: dict[str, Any] = {"max_retries": 0, "timeout": settings.timeout_s}
    if base_url is not None:
        options["base_url"] = base_url
    if api_key is not None:
        options["api_key"] = api_key
    try:
        return init_chat_model(model, model_provider=settings.provider, **options)
    except (ImportError, ValueError) as exc:
        raise LLMError(f"provider {settings.provider!r}, model {model!r}: {exc}") from None


async def close_chat_model(chat: Any) -> None:
    """Close the model's HTTP pool where it has one we made (ChatOpenAI's)."""
    http = getattr(chat, "http_async_client", None)
    if http is not None:
        await http.aclose()


def call_options(params: dict[str, Any]) -> dict[str, Any]:
    """Sampling parameters as chat-model call kwargs. `response_format` goes in the request
    body as given: passed as a kwarg, ChatOpenAI would switch to the SDK's `parse()` path."""
    options = {k: v for k, v in params.items() if v is not None and k != "response_format"}
    if params.get("response_format") is not None:
        options["extra_body"] = {"response_format": params["response_format"]}
    return options


def text_of(content: Any) -> str:
    """A message's text: a string, or the text parts of a list of content blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part if isinstance(part, str) else str(part.get("text", ""))
                       for part in content if isinstance(part, (str, dict)))
    return "" if content is None else str(content)


def reply_of(message: Any) -> tuple[str, int, int, str | None, str | None]:
    """(text, tokens in, tokens out, model, finish reason) of an AIMessage."""
    usage = message.usage_metadata or {}
    meta = message.response_metadata or {}
    return (text_of(message.content), int(usage.get("input_tokens") or 0),
            int(usage.get("output_tokens") or 0), meta.get("model_name") or meta.get("model"),
            meta.get("finish_reason") or meta.get("stop_reason"))


def require_endpoint(name: str, settings: ModelSettings) -> str:
    """A role needs a model, and a base_url unless it names a provider; returns the model."""
    if not settings.model:
        raise LLMError(f"role {name!r} has no model: set it in config or let crib start the "
                       "embedded model for roles without an endpoint")
    if not settings.base_url and settings.provider is None:
        raise LLMError(f"role {name!r} has no base_url: set it (or a provider) in config or let "
                       "crib start the embedded model for roles without an endpoint")
    return settings.model
