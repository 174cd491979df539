"""The dependency audit (.ci/audit_dependencies.py): a fixable vulnerability fails; an audit
that could check nothing (the service unreachable, every package skipped) is never reported
as a pass, and fails under GOVSHARE_AUDIT_REQUIRED; a stale lock is found."""

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("audit_dependencies",
                                              REPO / ".ci" / "audit_dependencies.py")
audit = importlib.util.module_from_spec(spec)
spec.loader.exec_module(audit)

SKIPPED = {"name": "zipp", "version": "4.1.2",
           "skip_reason": "Dependency not found on PyPI and could not be audited: zipp"}


def _dep(name, vulns=()):
    return {"name": name, "version": "1.0", "vulns": list(vulns)}


def test_a_vulnerability_with_a_fix_fails_one_without_is_printed():
    report = {"dependencies": [_dep("a", [{"id": "PYSEC-1", "fix_versions": ["1.1"]}]),
                               _dep("b", [{"id": "GHSA-2", "fix_versions": []}])]}
    code, lines = audit.decide(report, "", "pypi", required=False)
    assert code == 1
    assert "FIX AVAILABLE  a 1.0: PYSEC-1 (fixed in 1.1)" in lines[1]
    assert "no fix yet     b 1.0: GHSA-2 (fixed in no release)" in lines[2]
    assert audit.decide({"dependencies": [_dep("b", [{"id": "GHSA-2"}])]}, "", "pypi",
                        required=True)[0] == 0


def test_an_audit_that_checked_nothing_is_not_a_pass():
    report = {"dependencies": [SKIPPED] * 3}
    code, lines = audit.decide(report, "", "pypi", required=False)
    assert code == 0 and lines[0].startswith("pip-audit (pypi): 0 of 3 locked packages audited")
    assert lines[-1].startswith("NOT AUDITED: 3 package(s)")
    assert audit.decide(report, "", "pypi", required=True)[0] == 3
    code, lines = audit.decide(None, "ConnectionError: api.osv.dev", "osv", required=True)
    assert code == 3 and "could not reach the osv" in lines[0]
    assert audit.decide({"dependencies": [_dep("a")]}, "", "pypi", required=True) == (
        0, ["pip-audit (pypi): 1 of 1 locked packages audited, 0 not audited, 0 fixable and "
            "0 unfixed known vulnerabilities"])


def test_the_committed_lock_matches_the_constraints_and_the_declared_dependencies():
    assert audit.stale_pins(REPO / "requirements.lock", REPO / "constraints.txt") == []
    # The image's lock leaves the dev tools out; its versions are the same.
    runtime = audit.stale_pins(REPO / "requirements-runtime.lock", REPO / "constraints.txt")
    assert [line for line in runtime if "declared in pyproject.toml" not in line] == []


def test_a_stale_lock_is_found(tmp_path):
    lock, constraints, pyproject = (tmp_path / n for n in ("r.lock", "c.txt", "p.toml"))
    lock.write_text("pandas==3.0.0 \\\n    --hash=sha256:00\n")
    constraints.write_text("pandas==3.1.1\n")
    pyproject.write_text('[project]\nname = "x"\ndependencies = ["pandas>=3", "duckdb"]\n')
    assert audit.stale_pins(lock, constraints, pyproject) == [
        "pandas: lock 3.0.0, constraints 3.1.1",
        "duckdb: declared in pyproject.toml, not in r.lock"]
