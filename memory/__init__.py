"""Crib's cheatsheet memory (imports nothing else of Crib's; see docs/memory.md).

    from crib.memory.store import MemoryStore          # SQL store, event log, render, retrieval
    from crib.memory.curator import curate             # await curate(complete, problem, answer,
                                                       #              verdict, entries)
    from crib.memory.modes import MemorySession, MODES # none, empty, full-history, retrieval,
                                                       # dc-cu, dc-rs
    from crib.memory.embedding import MiniLMEmbedding  # offline all-MiniLM-L6-v2, a Chroma
                                                       # embedding function

    store = MemoryStore(engine, chroma_dir=data_dir / "chroma")
    sheet = store.render(scope, problem_text, token_budget)      # .text, .entry_ids, .version
    proposal = await curate(complete, problem, answer, verdict, relevant_entries)
    result = store.apply(scope, proposal, provenance, gated_by=verdict)
    store.record_outcome(sheet.entry_ids, verdict)               # called by the solve loop

Submodules are imported explicitly so `import memory` stays cheap (no Chroma, no numpy).
"""
