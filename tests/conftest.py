"""Fixtures shared by every layer's tests."""
import pytest

from tests.scripted_server import ScriptedServer


@pytest.fixture
def scripted_server():
    """A started OpenAI-compatible server on 127.0.0.1; script it with `.script(fn)`/`.enqueue`."""
    with ScriptedServer() as server:
        yield server
