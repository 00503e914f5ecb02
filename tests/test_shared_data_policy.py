"""Missing shared data: skip locally, fail under CI."""
import subprocess
import sys
import textwrap


def _run_with_missing_data(tmp_path, ci):
    test = tmp_path / "test_needs_data.py"
    test.write_text(textwrap.dedent("""
        from helpers import shared_path
        def test_needs_data():
            shared_path("no/such/file.bin")
    """))
    import helpers

    env = {"PATH": "/usr/bin:/bin", "HRTRACK_SHARED": str(tmp_path / "absent"),
           "PYTHONPATH": str(helpers.PROJECT_ROOT / "tests")}
    if ci:
        env["CI"] = "true"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(test)], capture_output=True, text=True, env=env, cwd=tmp_path)


def test_missing_shared_data_skips_locally(tmp_path):
    result = _run_with_missing_data(tmp_path, ci=False)
    assert result.returncode == 0 and "1 skipped" in result.stdout


def test_missing_shared_data_fails_under_ci(tmp_path):
    result = _run_with_missing_data(tmp_path, ci=True)
    assert result.returncode == 1 and "shared test data missing" in result.stdout
