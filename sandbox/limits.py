"""What a run may use (Limits) and what it did (RunResult)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Tier = Literal["agent", "snippet", "none"]
# Most completions one `complete_many` request may ask for (they run at once on the host; the
# guest runtime splits longer lists into batches of this size). A protocol constant, not a
# per-run budget: the guest runtime holds the same number (crib_runtime.MAX_BATCH).
MAX_BATCH_CALLS = 16

LimitHit = Literal["timeout", "cpu", "memory", "output", "file_size", "llm_calls", "tokens",
                   "nested_runs"]


class Limits(BaseModel):
    """Per-run limits. Wall time covers everything, LLM calls included."""

    model_config = ConfigDict(frozen=True)

    timeout_s: float = Field(10.0, gt=0,
                             description="wall clock; the whole process group is killed")
    cpu_s: int | None = Field(None, gt=0, description="RLIMIT_CPU; default ceil(timeout_s)")
    memory_mb: int = Field(1024, gt=16, description="RLIMIT_AS")
    max_procs: int = Field(64, gt=0, description="RLIMIT_NPROC of the slot uid")
    max_open_files: int = Field(256, ge=16, description="RLIMIT_NOFILE")
    file_mb: int = Field(64, gt=0, description="RLIMIT_FSIZE: largest file the run may write")
    output_bytes: int = Field(1 << 20, gt=0, description="stdout/stderr kept per stream")
    max_llm_calls: int = Field(50, ge=0)
    max_tokens: int = Field(200_000, ge=0, description="tokens in + out over the run")
    max_nested_runs: int = Field(20, ge=0, description="run_python calls from the guest")
    max_message_bytes: int = Field(4 << 20, ge=1024, description="one channel message")

    def rlimits(self) -> dict[str, int]:
        cpu = self.cpu_s or max(1, int(-(-self.timeout_s // 1)))
        return {"cpu": cpu, "as": self.memory_mb << 20, "nproc": self.max_procs,
                "fsize": self.file_mb << 20, "nofile": self.max_open_files, "core": 0}


class RunResult(BaseModel):
    """The outcome of one sandboxed run. `ok` means exit 0, no error and no limit hit."""

    ok: bool
    exit_code: int | None
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    value: Any = None
    error: str | None = None
    limit_hit: LimitHit | None = None
    wall_ms: float = 0.0
    cpu_ms: float | None = None
    peak_rss_kb: int | None = None
    tier: Tier
    rpc_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    nested_runs: int = 0
    # The run's run_python snippets in order: {code, ok, stdout, error} (for skill capture).
    snippets: list[dict[str, Any]] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return self.model_dump()
