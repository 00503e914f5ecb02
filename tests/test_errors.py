"""The one error guard of the command-line tools: user errors (:class:`pose.errors.HrtrackError`)
become one ``error:`` line and exit code 2; anything else is a bug and keeps its traceback."""
import subprocess
import sys

import pytest

from helpers import PROJECT_ROOT
from pose.errors import (BadInputError, HrtrackError, MissingFileError, UnknownNameError,
                         report_errors)


def _fails(exc):
    def body():
        raise exc
    return body


def test_user_errors_are_one_line_and_exit_code_2(capsys):
    for exc in (BadInputError("--x 3: too big"), MissingFileError("a.json: not found"),
                UnknownNameError("unknown model 'abc'; known: x, y")):
        assert report_errors(_fails(exc)) == 2
        err = capsys.readouterr().err
        assert err == f"error: {exc.args[0]}\n"
    assert isinstance(UnknownNameError("x"), KeyError) and str(UnknownNameError("x y")) == "x y"
    assert isinstance(MissingFileError("x"), FileNotFoundError)


@pytest.mark.parametrize("exc", [RuntimeError("a bug"), KeyError("a bug"), ValueError("a bug"),
                                 FileNotFoundError("a bug")])
def test_other_exceptions_are_bugs_and_propagate(exc, capsys):
    with pytest.raises(type(exc)):
        report_errors(_fails(exc))
    assert "error:" not in capsys.readouterr().err


def test_interrupts(capsys):
    with pytest.raises(KeyboardInterrupt):
        report_errors(_fails(KeyboardInterrupt()))
    assert report_errors(_fails(KeyboardInterrupt()), on_interrupt=lambda: 130) == 130


def test_debug_setting_shows_the_traceback_of_a_user_error(monkeypatch):
    monkeypatch.setenv("HRTRACK_DEBUG", "1")
    with pytest.raises(HrtrackError):
        report_errors(_fails(BadInputError("x")))


def test_a_bug_inside_an_app_shows_its_traceback(tmp_path, monkeypatch):
    """A plain exception raised inside a command (here: a KeyError where the app checks its
    options) is printed by Python with its traceback, not as an ``error:`` line."""
    code = ("import sys\n"
            "from apps import track_video\n"
            "def broken(args):\n"
            "    raise KeyError('a bug')\n"
            "track_video.check_options = broken\n"
            "sys.exit(track_video.main([sys.argv[1]]))\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "v.mp4")],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "KeyError: 'a bug'" in done.stderr
    assert "error: " not in done.stderr
