"""The model endpoints a command will call, checked before any work starts.

Each configured endpoint is asked for `GET {base_url}/models` once, with a short timeout: a
down, hung or key-refusing endpoint is then one clear error (exit 2) instead of a batch whose
every problem fails slowly. A role with no model name takes the endpoint's model when it
serves exactly one. A base URL that carries credentials (http://user:KEY@host) is refused:
keys go in the environment variable named by `api_key_env`, never in a URL that is shown,
logged and stored.
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping

from crib.agents.llm.settings import ModelSettings
from crib.config import ConfigError, mask_url, url_has_credentials

CHECK_TIMEOUT_S = 10.0


async def list_models(base_url: str, api_key: str, timeout_s: float = CHECK_TIMEOUT_S,
                      key_name: str | None = None) -> list[str] | None:
    """The model ids the endpoint serves; None when it answers but lists none (no /models).
    Raises ConfigError when it cannot be reached, does not answer in time or refuses the key."""
    import aiohttp

    shown = mask_url(base_url)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s),
                                         trust_env=True) as session:
            async with session.get(base_url.rstrip("/") + "/models", headers=headers) as reply:
                status = reply.status
                body = await reply.json(content_type=None) if status == 200 else None
                text = "" if status == 200 else (await reply.text())[:200].strip()
    except (asyncio.TimeoutError, TimeoutError):
        raise ConfigError(f"the model endpoint {shown} did not answer within {timeout_s:g} s "
                          "(hung or overloaded?)") from None
    except aiohttp.ClientConnectorError as exc:
        reason = exc.os_error.strerror or str(exc.os_error) or "connection failed"
        raise ConfigError(f"cannot reach the model endpoint {shown}: {reason} "
                          "(check OPENAI_BASE_URL or llm.base_url)") from None
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        reason = mask_url(str(exc)) or type(exc).__name__
        raise ConfigError(f"cannot reach the model endpoint {shown}: {reason} "
                          "(check OPENAI_BASE_URL or llm.base_url)") from None
    if status in (401, 403):
        key = f"${key_name}" if key_name else "the API key"
        said = f": {text}" if text else ""
        raise ConfigError(f"the model endpoint {shown} refused {key} (HTTP {status}{said})")
    if status >= 500:
        said = f": {text}" if text else ""
        raise ConfigError(f"the model endpoint {shown} is failing (HTTP {status}{said} "
                          "to GET /models)")
    if status != 200 or not isinstance(body, dict) or not isinstance(body.get("data"), list):
        return None  # reachable; some OpenAI-compatible servers have no model list
    return [str(m["id"]) for m in body["data"] if isinstance(m, dict) and m.get("id")]


async def check_endpoints(roles: Mapping[str, ModelSettings],
                          timeout_s: float = CHECK_TIMEOUT_S) -> dict[str, ModelSettings]:
    """`roles` with every configured endpoint checked and missing model names filled in from
    the endpoint's only model. Roles with no base_url (the embedded model) pass unchanged.
    The check waits at most `timeout_s`, or a role's own call timeout if that is shorter."""
    by_url: dict[str, list[str]] = {}
    for name, settings in roles.items():
        if settings.base_url is None:
            continue
        if url_has_credentials(settings.base_url):
            raise ConfigError(
                f"{name}.base_url {mask_url(settings.base_url)} carries credentials: put the key "
                f"in the environment variable named by api_key_env (now "
                f"{settings.api_key_env or 'unset'}) and give the URL without user:password@")
        by_url.setdefault(settings.base_url, []).append(name)

    async def ask(url: str) -> list[str] | None:
        first = roles[by_url[url][0]]
        key_name = first.api_key_env
        wait = min(timeout_s, *(roles[n].timeout_s or timeout_s for n in by_url[url]))
        return await list_models(url, os.environ.get(key_name or "", ""), wait, key_name)

    listed = dict(zip(by_url, await asyncio.gather(*(ask(u) for u in by_url))))
    checked: dict[str, ModelSettings] = dict(roles)
    for url, names in by_url.items():
        for name in names:
            if roles[name].model is None:
                checked[name] = roles[name].model_copy(
                    update={"model": _only_model(name, url, listed[url])})
    return checked


def _only_model(role: str, url: str, models: list[str] | None) -> str:
    if models is not None and len(models) == 1:
        return models[0]
    served = ("it lists no models" if not models else
              f"it serves {len(models)}: {', '.join(models[:8])}{', …' if len(models) > 8 else ''}")
    raise ConfigError(f"role {role!r} has no model for the endpoint {mask_url(url)} ({served}): "
                      f"set one with CRIB_LLM__MODEL=NAME or [llm] model = \"NAME\" in crib.toml")

