"""Model settings for one role (solver, curator, judge, meta)."""
from __future__ import annotations

from pydantic import BaseModel, Field

ROLES = ("solver", "curator", "judge", "meta")


class ModelSettings(BaseModel):
    """How one role talks to its model. `None` means: inherit from the shared `llm` section."""

    model: str | None = None
    base_url: str | None = None
    # The *name* of the environment variable holding the key: the key itself never enters config.
    api_key_env: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    concurrency: int | None = Field(default=None, ge=1)
    timeout_s: float | None = Field(default=None, gt=0)
    max_retries: int | None = Field(default=None, ge=0)

    def over(self, base: "ModelSettings") -> "ModelSettings":
        """This role's settings laid over `base` (the shared section)."""
        merged = base.model_dump()
        merged.update({k: v for k, v in self.model_dump().items() if v is not None})
        return ModelSettings(**merged)


DEFAULT_LLM = ModelSettings(
    model=None,  # None: the embedded local model
    base_url=None,  # None: start the embedded llama.cpp server
    api_key_env="OPENAI_API_KEY",
    temperature=0.0,
    max_tokens=1024,
    concurrency=8,
    timeout_s=300.0,
    max_retries=4,
)
