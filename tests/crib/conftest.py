import pytest

from tests.postgres import PostgresServer


@pytest.fixture(scope="session")
def postgres_url():
    try:
        server = PostgresServer().start()
    except Exception as exc:  # binaries missing or cannot run here: say why
        pytest.skip(f"PostgreSQL server unavailable: {exc}")
    yield server.url
    server.stop()
