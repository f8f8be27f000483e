"""Fixtures shared by every layer's tests."""
import signal

import pytest

from tests.scripted_server import ScriptedServer

FAST_MODEL = "qwen2.5-coder-0.5b"

# A suite started in the background by a non-interactive shell (`make test &`, a CI script,
# nohup) inherits SIGINT *ignored*, and an ignored signal stays ignored across exec: every
# process the tests start would ignore Ctrl-C too, so the tests that interrupt a child
# (`crib solve`, a parent of the embedded server) would see the run go on (exit 0, or no exit
# at all). Python only installs its KeyboardInterrupt handler when SIGINT is not ignored.
# Take SIGINT back, as a foreground run has it; the children then start with the default.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def scripted_server():
    """A started OpenAI-compatible server on 127.0.0.1; script it with `.script(fn)`/`.enqueue`."""
    with ScriptedServer() as server:
        yield server


@pytest.fixture(scope="session")
def local_model_path(tmp_path_factory):
    """The 0.5B GGUF: the one already assembled in the data dir (CRIB_DATA_DIR/models) if
    present and stamped, else assembled from its PyPI parts (sha256-checked) into a temp dir."""
    from crib.agents.llm import local_model

    if local_model.is_assembled(FAST_MODEL):
        return local_model.model_path(FAST_MODEL)
    try:
        local_model.part_paths(local_model.spec(FAST_MODEL))
    except local_model.ModelError as exc:
        pytest.skip(f"embedded model parts not installed: {exc}")
    return local_model.assemble(FAST_MODEL, tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def local_server(local_model_path):
    """One embedded llama.cpp server (0.5B, n_ctx 4096) for the whole session; `.base_url`."""
    from crib.agents.llm.local_server import LocalServer

    with LocalServer(local_model_path, ctx=4096, alias=FAST_MODEL) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for the session (Debian's binaries, started in a temp dir)."""
    from tests.postgres import PostgresServer

    try:
        server = PostgresServer().start()
    except Exception as exc:  # binaries missing or cannot run here: say why
        pytest.skip(f"PostgreSQL server unavailable: {exc}")
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh, empty database on the session's server, so tests never see each other's rows."""
    return postgres_server.new_database()


@pytest.fixture(scope="session")
def ray_cluster():
    """One real local Ray cluster (`ray start --head`, 2 CPUs) for the session; `.address`.
    Skipped only when `ray` is not installed (pip install 'crib[ray]')."""
    try:
        import ray  # noqa: F401
    except ImportError:
        pytest.skip("ray is not installed (pip install 'crib[ray]')")
    from tests.ray_cluster import RayCluster

    cluster = RayCluster(num_cpus=2).start()
    yield cluster
    cluster.stop()
