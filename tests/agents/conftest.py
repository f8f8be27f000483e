"""Fixtures shared by the agents-layer tests: a real SQLite database with the records' tables,
and a real sandbox per test module."""
import pytest
from sqlalchemy import create_engine

from crib.agents.records import Base
from crib.sandbox import Sandbox


@pytest.fixture
def engine(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'crib.db'}")
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def sandbox():
    sb = Sandbox()
    yield sb
    sb.close()
