"""Fixtures shared by the crib-level tests."""
import pytest


@pytest.fixture(scope="session")
def view_data(tmp_path_factory):
    """One database from real scripted `crib solve` and `crib search` runs (view_data.py),
    shared by the viewer's and the transcripts' tests: they only read it (or a copy)."""
    from tests.crib.view_data import build

    return build(tmp_path_factory.mktemp("view"))
