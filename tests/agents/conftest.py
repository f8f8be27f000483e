"""Fixtures shared by the agents-layer tests: a real SQLite database with the records' tables."""
import pytest
from sqlalchemy import create_engine

from crib.agents.records import Base


@pytest.fixture
def engine(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'crib.db'}")
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()
