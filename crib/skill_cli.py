"""`crib memory add --kind skill --file f.py`: a skill written by hand, tested like a captured
one (in the snippet sandbox, on problems of its domain, judged by the domain's checker) and
promoted only if it passes; no model is asked to repair it."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from crib.memory.models import Provenance
from crib.memory.skills import candidate

if TYPE_CHECKING:
    from crib.memory.models import MemoryEntry
    from crib.memory.store import MemoryStore


def add_skill(store: MemoryStore, scope: str, code: str, domain_name: str) -> MemoryEntry:
    """The new skill entry after its tests (active if they passed, archived with the reason
    if not). Raises ValueError for code that is not a skill or a domain that cannot test it."""
    from crib.agents.domains import DOMAINS, get_domain
    from crib.agents.skills import SkillLoop
    from crib.cliutil import config_or_fail
    from crib.context import start_sandbox

    if domain_name not in DOMAINS:
        raise ValueError(f"--domain {domain_name!r} is not a domain ({', '.join(DOMAINS)}); a "
                         "skill is tested on its domain's problems")
    domain = get_domain(domain_name)
    if not getattr(domain, "has_checker", False):
        raise ValueError(f"domain {domain_name!r} has no target-free checker to test a skill with")
    _, fields = candidate(scope, code, Provenance(source="user", note="added by hand"))
    cfg, _ = config_or_fail()
    sandbox = start_sandbox(cfg)
    try:
        entry = store.add(reason="skill added by hand; testing", **fields)
        loop = SkillLoop(store, scope, domain, sandbox)
        return asyncio.run(loop.test_and_promote(entry, repairs=0))
    finally:
        sandbox.close()
