"""Effective configuration: flags > environment > ./crib.toml > user config > defaults.

Each layer is read on its own into a nested dict, the layers are merged in order, and the
source of every value is remembered so `crib config show` can say where it came from.
Secrets are never stored: a role names the environment variable that holds its key.
"""
from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from crib.agents.llm.settings import DEFAULT_LLM, ROLES, ModelSettings
from crib.memory.mode_names import MemoryMode

CacheMode = Literal["on", "off", "read", "write"]


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "crib"


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "crib" / "config.toml"


class SandboxSettings(BaseModel):
    unsafe_no_sandbox: bool = False
    # One agent run's wall clock, its model calls included (a small local model on a busy
    # CPU can take minutes a call), and its address-space limit.
    timeout_s: float = Field(1800.0, gt=0)
    memory_mb: int = Field(1024, gt=16)


class MemorySettings(BaseModel):
    mode: MemoryMode = "dc-cu"
    gating: bool = True
    render_tokens: int = 1500
    chroma_url: str | None = None


class CribConfig(BaseModel):
    data_dir: Path = Field(default_factory=default_data_dir)
    db_url: str | None = None  # None: SQLite file in data_dir
    local_model: str = "qwen2.5-coder-1.5b"
    local_ctx: int = 8192
    local_threads: int | None = Field(None, ge=1)  # None: every core but one
    # Two slots decode two calls at once for about the cost of one (docs/local-model.md).
    local_parallel: int = Field(2, ge=1)
    cache: CacheMode = "on"
    transcripts: bool = True  # keep what each call, sandbox run and verdict said (crib view)
    budget_usd: float | None = None
    budget_tokens: int | None = None
    llm: ModelSettings = DEFAULT_LLM
    solver: ModelSettings = ModelSettings()
    curator: ModelSettings = ModelSettings()
    judge: ModelSettings = ModelSettings()
    meta: ModelSettings = ModelSettings()
    sandbox: SandboxSettings = SandboxSettings()
    memory: MemorySettings = MemorySettings()

    def role(self, name: str) -> ModelSettings:
        """The settings a role runs with: its own values laid over the shared `llm` section."""
        if name not in ROLES:
            raise ValueError(f"unknown role {name!r}; roles are {', '.join(ROLES)}")
        return getattr(self, name).over(self.llm.over(DEFAULT_LLM))

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_dir / 'crib.db'}"

    @property
    def needs_local_model(self) -> bool:
        return any(self.role(r).needs_embedded_server for r in ROLES)


class _EnvLayer(BaseSettings):
    """The CRIB_* environment, nested with `__` (CRIB_SOLVER__MODEL=gpt-4o-mini)."""

    model_config = SettingsConfigDict(env_prefix="CRIB_", env_nested_delimiter="__", extra="ignore")

    data_dir: str | None = None
    db_url: str | None = None
    local_model: str | None = None
    local_ctx: int | None = None
    local_threads: int | None = None
    local_parallel: int | None = None
    cache: str | None = None
    transcripts: bool | None = None
    budget_usd: float | None = None
    budget_tokens: int | None = None
    llm: dict[str, Any] | None = None
    solver: dict[str, Any] | None = None
    curator: dict[str, Any] | None = None
    judge: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None
    sandbox: dict[str, Any] | None = None
    memory: dict[str, Any] | None = None


def _env_layer() -> dict[str, Any]:
    from pydantic_settings import SettingsError

    try:
        layer = _EnvLayer().model_dump(exclude_none=True)
    except ValidationError as exc:
        bad = "; ".join(f"CRIB_{'__'.join(map(str, e['loc'])).upper()} = {e['input']!r}: "
                        f"{e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid configuration in the environment: {bad}") from None
    except SettingsError as exc:  # a nested section given as a value (CRIB_LLM='{')
        raise ConfigError(f"invalid configuration in the environment: {exc}") from None
    # The OpenAI client's own variables count as environment configuration too.
    if os.environ.get("OPENAI_BASE_URL") and "base_url" not in layer.get("llm", {}):
        layer.setdefault("llm", {})["base_url"] = os.environ["OPENAI_BASE_URL"]
    return layer


_TOML_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def _toml_layer(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        at = _TOML_AT.search(message)  # "path:line:column: what", as compilers say it
        where = f"{path}:{at.group(1)}:{at.group(2)}" if at else str(path)
        raise ConfigError(f"{where}: invalid TOML: {_TOML_AT.sub('', message)}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc


class ConfigError(Exception):
    """A configuration problem, said in one line: commands exit 2 on it."""


def _section_fields() -> dict[str, set[str]]:
    """The keys each section of the config takes (a role takes ModelSettings' keys)."""
    fields = {name: set(f.annotation.model_fields) for name, f in CribConfig.model_fields.items()
              if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)}
    return {"": set(CribConfig.model_fields), **fields}


def _check_keys(layer: dict[str, Any], source: str) -> None:
    """Unknown keys are errors, not silently ignored: a misspelt role or key would otherwise
    leave the default in force with no word said."""
    known = _section_fields()
    for key, value in layer.items():
        if key not in known[""]:
            hint = (f"; roles are {', '.join(ROLES)}" if isinstance(value, dict)
                    else "; see `crib config show` for the keys")
            raise ConfigError(f"unknown key {key!r} in {source}{hint}")
        if key in known and isinstance(value, dict):
            for sub in value:
                if sub not in known[key]:
                    raise ConfigError(f"unknown key {key}.{sub} in {source}; [{key}] takes "
                                      f"{', '.join(sorted(known[key]))}")


def _merge(into: dict, layer: dict, source: str, sources: dict[str, str], prefix: str = "") -> None:
    for key, value in layer.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value, source, sources, dotted + ".")
        elif isinstance(value, dict):
            into[key] = {}
            _merge(into[key], value, source, sources, dotted + ".")
        else:
            into[key] = value
            sources[dotted] = source


def load_config(
    flags: dict[str, Any] | None = None, cwd: Path | None = None
) -> tuple[CribConfig, dict[str, str]]:
    """The effective config and, for each dotted key that was set, the layer it came from."""
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    layers = [
        (f"user config ({user_config_path()})", _toml_layer(user_config_path())),
        ("./crib.toml", _toml_layer((cwd or Path.cwd()) / "crib.toml")),
        ("environment", _env_layer()),
        ("flag", flags or {}),
    ]
    for source, layer in layers:
        _check_keys(layer, source)
        _merge(merged, layer, source, sources)
    try:
        return CribConfig(**merged), sources
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration: {_one_line(exc, sources)}") from exc


def _one_line(exc: ValidationError, sources: dict[str, str]) -> str:
    """Each bad value with the layer it came from and what is wrong, on one line."""
    parts = []
    for error in exc.errors():
        key = ".".join(map(str, error["loc"]))
        given = f" = {error['input']!r}" if "input" in error and error["type"] != "missing" else ""
        parts.append(f"{key}{given} (from {sources.get(key, 'default')}): {error['msg']}")
    return "; ".join(parts)


def describe(config: CribConfig, sources: dict[str, str]) -> list[dict[str, Any]]:
    """Rows for `crib config show`: key, effective value (secrets masked), source.

    Roles show the values they really run with; an unset role value names the `llm` key it
    inherits from."""
    rows: list[dict[str, Any]] = []

    def walk(obj: Any, prefix: str) -> None:
        if isinstance(obj, BaseModel):
            for name in type(obj).model_fields:
                walk(getattr(obj, name), f"{prefix}{name}.")
            return
        key = prefix.rstrip(".")
        rows.append({"key": key, "value": _shown(key, _plain(obj)),
                     "source": sources.get(key, "default")})

    for name in type(config).model_fields:
        if name not in ROLES:
            walk(getattr(config, name), f"{name}.")
    for role in ROLES:
        effective = config.role(role)
        for field, value in effective.model_dump().items():
            key = f"{role}.{field}"
            source = sources.get(key) or f"llm.{field} ({sources.get(f'llm.{field}', 'default')})"
            rows.append({"key": key, "value": _shown(key, value), "source": source})
        env = effective.api_key_env
        rows.append({
            "key": f"{role}.api_key",
            "value": mask(os.environ.get(env, "")) if env else None,
            "source": f"${env}" if env and os.environ.get(env) else "unset",
        })
    return rows


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


def _shown(key: str, value: Any) -> Any:
    return mask_url(value) if key.endswith("_url") and isinstance(value, str) else value


_USERINFO = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@]*@")


def url_has_credentials(url: str) -> bool:
    return bool(_USERINFO.match(url))


def mask_url(url: str) -> str:
    """`url` with any user:password@ part masked (a key put in a base URL, a database
    password): URLs are shown in config, errors, results and manifests."""
    return _USERINFO.sub(r"\1…@", url)


def mask(secret: str) -> str | None:
    if not secret:
        return None
    return secret[:3] + "…" + secret[-2:] if len(secret) > 8 else "…"
