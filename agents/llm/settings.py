"""Model settings for one role (solver, curator, judge, meta)."""
from __future__ import annotations

from pydantic import BaseModel, Field

ROLES = ("solver", "curator", "judge", "meta")


class ModelSettings(BaseModel):
    """How one role talks to its model. `None` means: inherit from the shared `llm` section."""

    model: str | None = None
    base_url: str | None = None
    # None: an OpenAI-compatible endpoint at base_url. Else a provider LangChain's
    # init_chat_model knows ("anthropic", "google_genai", ...); base_url is then optional.
    provider: str | None = None
    # The *name* of the environment variable holding the key: the key itself never enters config.
    api_key_env: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    # Calls in flight per endpoint. Unset: what the command asks for (`--concurrency`), else 8.
    concurrency: int | None = Field(default=None, ge=1)
    timeout_s: float | None = Field(default=None, gt=0)
    max_retries: int | None = Field(default=None, ge=0)

    def over(self, base: "ModelSettings") -> "ModelSettings":
        """This role's settings laid over `base` (the shared section)."""
        merged = base.model_dump()
        merged.update({k: v for k, v in self.model_dump().items() if v is not None})
        return ModelSettings(**merged)

    @property
    def needs_embedded_server(self) -> bool:
        """Neither an endpoint nor a provider: the embedded llama.cpp server serves it."""
        return self.base_url is None and self.provider is None


DEFAULT_LLM = ModelSettings(
    model=None,  # None: the embedded local model
    base_url=None,  # None: start the embedded llama.cpp server
    api_key_env="OPENAI_API_KEY",
    temperature=0.0,
    max_tokens=1024,
    concurrency=None,  # the command's --concurrency (8 outside a batch): agents/llm/endpoints.py
    timeout_s=300.0,
    max_retries=4,
)
