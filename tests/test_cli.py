"""Issue 11 items 4 and 6, issue 10 item 18: how the command line reports errors (one line, the error's
exit code, bugs shown as bugs), --version, `| head`, control characters in names, the shared flags."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

import inceptionkit
from inceptionkit.cli import main
from inceptionkit.errors import CommandError, ConfigError, WeightsError
from inceptionkit.text import printable


def _with_func(monkeypatch, func):
    """`inceptionkit summary googlenet`, whose work is ``func`` (main builds its parser at each call)."""
    monkeypatch.setattr("inceptionkit.commands.summary.run", func)


def _raising(e: BaseException):
    def run(args: argparse.Namespace) -> int:
        raise e

    return run


@pytest.mark.parametrize(
    "error, code, line",
    [
        (WeightsError("w.pth: no such file"), 2, "inceptionkit summary: error: w.pth: no such file"),
        (ConfigError("--lr must be positive"), 2, "inceptionkit summary: error: --lr must be positive"),
        (CommandError("cannot write x"), 1, "inceptionkit summary: error: cannot write x"),
        (
            FileNotFoundError(2, "No such file or directory", "a.png"),
            2,
            "error: a.png: No such file or directory",
        ),
        (PermissionError(13, "Permission denied", "/root/x"), 1, "error: /root/x: Permission denied"),
        (
            KeyError("fc"),
            1,
            "error: internal error (a bug): KeyError: 'fc'; run with --debug for the traceback",
        ),
        (
            ValueError("bad"),
            1,
            "error: internal error (a bug): ValueError: bad; run with --debug for the traceback",
        ),
        (RuntimeError("bad"), 1, "error: internal error (a bug): RuntimeError: bad; run with --debug"),
    ],
)
def test_errors_are_one_line_with_their_exit_code(monkeypatch, capsys, error, code, line):
    _with_func(monkeypatch, _raising(error))
    assert main(["summary", "googlenet"]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and line in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [["--debug", "summary", "googlenet"], ["summary", "googlenet", "--debug"]])
def test_debug_shows_the_traceback(monkeypatch, argv):
    _with_func(monkeypatch, _raising(ValueError("bad")))
    with pytest.raises(ValueError, match="bad"):
        main(argv)


def test_debug_is_taken_after_every_command_and_sub_command():
    from test_cli_grammar import PARSERS

    for path, parser in PARSERS.items():
        if path:  # every command, and weights' own (list, ...)
            assert any("--debug" in a.option_strings for a in parser._actions), path


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"inceptionkit {inceptionkit.__version__}"


@pytest.mark.subprocess
def test_a_closed_pipe_ends_quietly():
    """`inceptionkit summary ... --format json | head -1`: no "Broken pipe", no traceback."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    p = subprocess.Popen(
        [sys.executable, "-m", "inceptionkit", "summary", "inception_resnet_v2", "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert p.stdout.readline().strip() == b"{"
    p.stdout.close()  # what `head -1` does after its line
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 141 and err == ""


@pytest.mark.subprocess
def test_the_programs_end_skips_only_the_search_for_cycles(tmp_path):
    """Run as the program, ``main`` freezes the objects it leaves (the interpreter's teardown need
    not search them for cycles); what the end of a process owes still happens: handlers registered
    with atexit run, and a file left open is flushed."""
    left_open = tmp_path / "left-open.txt"
    program = (
        "import atexit, gc, sys\n"
        "from inceptionkit.cli import main\n"
        "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 0, flush=True))\n"
        "out = open(sys.argv[1], 'w')\n"
        "out.write('written, never flushed by the program')\n"
        "sys.argv = ['inceptionkit', '--version']\n"
        "sys.exit(main())\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", program, str(left_open)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"inceptionkit {inceptionkit.__version__}", "frozen at exit: True"]
    assert left_open.read_text() == "written, never flushed by the program"


def test_main_called_by_a_program_freezes_nothing(capsys):
    """``main(argv)`` from a caller's own program (which goes on afterwards) leaves its objects as
    they were."""
    import gc

    before = gc.get_freeze_count()
    assert main(["--version"]) == 0
    assert gc.get_freeze_count() == before


def test_control_characters_in_names_are_escaped(tmp_path, capsys):
    name = tmp_path / "evil\x1b[2J\x07\u202e.pth"
    assert main(["convert", str(name), "--model", "googlenet", "-o", str(tmp_path / "o.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and "\u202e" not in err
    assert "evil\\x1b[2J\\x07\\u202e.pth" in err
    assert printable("naïve\tname\n") == "naïve\\tname\\n"  # letters stay, controls are escaped


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["convert", "x", "--model", "googlenet", "--num-classes", "-5", "-o", "o.safetensors"],
            "--num-classes",
        ),
        (["summary", "googlenet", "--img-size", "100000"], "must be at most 4096 pixels"),
        (["summary", "googlenet", "--input-size", "100000"], "must be at most 4096 pixels"),
        (["draw", "googlenet", "--img-size", "0", "-o", "x.png"], "must be at least 1"),
        (["summary", "googlenet", "--model", "inception_v3"], "give the model once"),
        (["summary"], "the model is missing"),
        (["cost", "conv", "--input", "28x28x192", "--filters", "0", "--kernel", "5"], "--filters"),
    ],
)
def test_usage_errors_are_one_line_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert message in err


def test_model_flag_and_img_size_alias(capsys):
    assert main(["summary", "--model", "googlenet", "--img-size", "224", "--format", "json"]) == 0
    by_flag = capsys.readouterr().out
    assert main(["summary", "googlenet", "--input-size", "224", "--format", "json"]) == 0
    assert capsys.readouterr().out == by_flag


def test_cost_format_table_and_text_alias(capsys):
    argv = ["cost", "conv", "--input", "28x28x192", "--filters", "32", "--kernel", "5", "--reduce", "16"]
    assert main([*argv, "--format", "table"]) == 0
    table = capsys.readouterr().out
    assert "12,443,648" in table  # the seed's bottleneck figure
    assert main([*argv, "--format", "text"]) == 0
    assert capsys.readouterr().out == table
    assert main([*argv]) == 0
    assert capsys.readouterr().out == table
