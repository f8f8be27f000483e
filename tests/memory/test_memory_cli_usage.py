"""`crib memory` usage errors exit 2 with one line; what is not found exits 1."""
from tests.memory.test_memory_cli import crib  # noqa: F401 - the CLI fixture


def test_usage_errors_exit_2_and_lookups_exit_1(crib):  # noqa: F811
    for args, said in ((("add", "--title", "t", "--body", "b", "--kind", "x"), "--kind must be"),
                       (("edit", "m-0000000000"), "nothing to change"),
                       (("export", "x.txt", "--format", "pdf"), "--format must be json or md"),
                       (("list", "--version", "3"), "--version goes with --scope")):
        r = crib(*args, ok=False)
        assert r.exit_code == 2 and said in r.output and "Traceback" not in r.output, r.output
    r = crib("show", "m-0000000000", ok=False)
    assert r.exit_code == 1 and "no memory entry" in r.output


def test_export_to_a_path_that_cannot_be_written(crib, tmp_path):  # noqa: F811
    (tmp_path / "adir").mkdir()
    r = crib("export", str(tmp_path / "adir"), ok=False)
    assert r.exit_code == 1 and "cannot write" in r.output and "Is a directory" in r.output
