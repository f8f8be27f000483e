"""Per-endpoint plumbing of the client: the concurrency limit, the calls waiting for it, and the
chat models and semaphores of each event loop.

A loop's chat models hold HTTP pools bound to it. `close_loop()` closes them; a loop that
`asyncio.run` shuts down has them closed even if nobody called it: asyncio.run closes the
loop's async generators before the loop, and each loop's state keeps one whose `finally`
closes its pools (a test or script may call `asyncio.run(llm.complete(...))` many times).

The limit is the one the command asks for (`crib solve --concurrency N` calls `want_in_flight(N)`
before its batch), else the role's configured `concurrency`, else 8. A configured concurrency
lower than what the command asks for caps it, and so does the embedded server (its slots + 1:
more would only queue there and eat into timeouts); each cap is reported once.
"""
from __future__ import annotations

import asyncio
import logging
import weakref
from contextlib import asynccontextmanager
from typing import Any, AsyncGenerator, Callable

from crib.agents.llm.chat_models import close_chat_model
from crib.agents.llm.local_server import embedded

DEFAULT_LIMIT = 8
log = logging.getLogger("crib.llm")


class Endpoints:
    def __init__(self, configured: dict[str, int | None]) -> None:
        self._configured = configured  # endpoint -> the largest concurrency its roles set
        self._wanted: int | None = None
        self._warned: set[str] = set()
        # Chat models and semaphores belong to one event loop: one set per loop.
        self._per_loop: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def limit(self, endpoint: str) -> int:
        configured = self._configured.get(endpoint)
        if self._wanted is None:
            limit = configured or DEFAULT_LIMIT
        else:
            limit = min(self._wanted, configured or self._wanted)
        server = embedded(endpoint)
        return min(limit, server.parallel + 1) if server is not None else limit

    def want_in_flight(self, n: int) -> list[str]:
        """Let every endpoint have up to `n` calls in flight from now on; returns (and logs,
        once per endpoint) why an endpoint will keep fewer."""
        self._wanted = n
        for state in self._per_loop.values():  # new limits: new semaphores (held ones drain)
            state["sem"].clear()
        capped = []
        for endpoint, configured in self._configured.items():
            server = embedded(endpoint)
            if configured is not None and configured < n:
                why = (f"the model endpoint {endpoint} keeps at most {configured} calls in flight "
                       f"(its llm concurrency setting), not the {n} asked for")
            elif server is not None and server.parallel + 1 < n:
                why = (f"the embedded model serves {server.parallel} calls at once: at most "
                       f"{server.parallel + 1} in flight, not the {n} asked for")
            else:
                continue
            capped.append(why)
            if why not in self._warned:
                self._warned.add(why)
                log.warning(why)
        return capped

    def loop_state(self) -> dict:
        loop = asyncio.get_running_loop()
        state = self._per_loop.get(loop)
        if state is None:
            chats: dict[str, Any] = {}
            sems: dict[str, asyncio.Semaphore] = {}
            closer = _closer(chats, sems)
            try:  # run it to its `yield`: this registers it with the running loop
                closer.asend(None).send(None)
            except StopIteration:
                pass
            state = self._per_loop[loop] = {"chat": chats, "sem": sems, "closer": closer}
        return state

    def chat(self, role: str, make: Callable[[int], Any]) -> Any:
        """This loop's chat model for the role (`make(connections)` builds it)."""
        chats = self.loop_state()["chat"]
        if role not in chats:
            chats[role] = make(self._connections())
        return chats[role]

    def _connections(self) -> int:
        """A pool as large as the largest limit any endpoint may get (roles share no pool)."""
        return max([self._wanted or 0, DEFAULT_LIMIT,
                    *(c for c in self._configured.values() if c)]) + 2

    @asynccontextmanager
    async def place(self, endpoint: str):
        """Hold one of the endpoint's places for a call."""
        sems = self.loop_state()["sem"]
        sem = sems.get(endpoint)
        if sem is None:
            sem = sems[endpoint] = asyncio.Semaphore(self.limit(endpoint))
        await sem.acquire()
        try:
            yield
        finally:
            sem.release()

    async def close_loop(self) -> None:
        """Close this loop's chat models (the next call on it builds new ones)."""
        state = self._per_loop.pop(asyncio.get_running_loop(), None)
        if state is not None:
            await state["closer"].aclose()


async def _closer(chats: dict[str, Any], sems: dict) -> AsyncGenerator[None, None]:
    """Waits at its `yield` until closed, then closes the chat models' pools and lets go of
    them and the semaphores (they hold the loop, which may then be freed). It holds no
    reference back to its state: an `LLM` dropped while its loop runs is freed by reference
    counting, its closer first (the loop then schedules the close), its pools after."""
    try:
        yield
    finally:
        try:
            for chat in list(chats.values()):
                await close_chat_model(chat)
        finally:
            chats.clear()
            sems.clear()
