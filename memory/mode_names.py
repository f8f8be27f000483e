"""The memory modes' names, defined once (memory/modes.py implements them).

Importing this module loads nothing else, so the CLI checks `--memory` against it without
loading the store, and the config types its field with `MemoryMode`.
"""
from __future__ import annotations

from typing import Literal, get_args

MemoryMode = Literal["none", "empty", "full-history", "retrieval", "dc-cu", "dc-rs", "skills"]
MEMORY_MODES: tuple[MemoryMode, ...] = get_args(MemoryMode)
# What `crib solve --ablate` compares side by side (plus its compute-matched baseline).
ABLATION_MODES: tuple[MemoryMode, ...] = ("none", "empty", "retrieval", "dc-cu")
# The modes a curator model writes the sheet in (memory/modes.py).
CURATED: tuple[MemoryMode, ...] = ("dc-cu", "dc-rs")
# The modes in which `crib solve` learns skills (agents/skills.py).
SKILL_MODES: tuple[MemoryMode, ...] = ("dc-cu", "dc-rs", "skills")
