"""Issue 17 item 1: one set of command-line arguments. Every command's parser is walked (sub-commands
included) and each shared flag has the one type and default of the grammar (docs/design.md): the same
flag means the same thing everywhere."""

from __future__ import annotations

import argparse

import pytest

from inceptionkit.cli import build_parser, img_size, non_negative_int, output_format, positive_int

# flag -> (type, default); None: the default may differ by job (documented in docs/design.md)
GRAMMAR = {
    "--workers": (non_negative_int, None),
    "--device": (str, None),
    "--img-size": (img_size, None),
    "--format": (output_format, "table"),
    "--batch-size": (positive_int, ...),  # ...: the job's own default (16, 50, 64, 1 8, the recipe's)
}
BATCH_DEFAULTS = {"predict": 16, "features": 16, "fid": 50, "eval": 64, "bench": [1, 8], "train": None}


def _parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


PARSERS = dict(_parsers(build_parser()))


def _flag(parser: argparse.ArgumentParser, flag: str) -> argparse.Action | None:
    return next((a for a in parser._actions if flag in a.option_strings), None)


def test_the_walk_finds_every_command():
    commands = {p[0] for p in PARSERS if len(p) == 1}
    assert commands == {
        "summary", "cost", "draw", "convert", "weights", "predict", "features", "train", "eval", "export",
        "bench", "fid",
    }  # fmt: skip


@pytest.mark.parametrize("flag", sorted(GRAMMAR))
def test_each_shared_flag_has_one_type_and_default(flag):
    want_type, want_default = GRAMMAR[flag]
    seen = 0
    for path, parser in PARSERS.items():
        action = _flag(parser, flag)
        if action is None:
            continue
        seen += 1
        where = " ".join(path)
        assert action.type is want_type, f"{where} {flag}: type {action.type}"
        if want_default is ...:
            assert action.default == BATCH_DEFAULTS[path[0]], f"{where} {flag}: default {action.default}"
        else:
            assert action.default == want_default, f"{where} {flag}: default {action.default!r}"
    assert seen >= 2, f"{flag} is shared by at least two commands"


@pytest.mark.parametrize("command", ["predict", "features", "eval", "fid", "train"])
def test_the_run_settings_flags_are_on_every_job_that_reads_images(command):
    parser = PARSERS[(command,)]
    for flag in ("--workers", "--device", "--batch-size"):
        assert _flag(parser, flag) is not None, f"{command} has no {flag}"


@pytest.mark.parametrize(
    "argv, field, value",
    [
        (["predict", "x", "--workers", "3"], "workers", 3),
        (["predict", "x", "--num-workers", "2"], "workers", 2),  # the old spelling
        (["fid", "a", "b", "--workers", "0", "--skip-bad"], "skip_bad", True),
        (["eval", "--checkpoint", "c", "--device", "cpu"], "device", "cpu"),
        (["train", "--no-progress"], "progress", False),
        (["fid", "a", "b"], "batch_size", 50),
    ],
)
def test_parsed_arguments_become_the_one_record(argv, field, value):
    from inceptionkit.cli import run_settings

    args = build_parser().parse_args(argv)
    assert getattr(run_settings(args), field) == value


def test_bad_values_are_refused_by_the_parser_alike(capsys):
    for argv in (["predict", "x", "--workers", "-1"], ["fid", "a", "b", "--workers", "-1"],
                 ["eval", "--checkpoint", "c", "--batch-size", "0"], ["train", "--workers", "-2"]):  # fmt: skip
        with pytest.raises(SystemExit) as e:
            build_parser().parse_args(argv)
        assert e.value.code == 2
        assert "must be at least" in capsys.readouterr().err


HEAVY = ("torch", "torchvision", "onnxruntime", "openvino", "onnx", "scipy", "matplotlib")


@pytest.mark.subprocess
def test_help_and_version_import_no_torch_and_no_runtime():
    """Issue 17 item 6: ``--version``, ``--help`` and every command's ``--help`` start in a blink."""
    import json
    import subprocess
    import sys

    code = (
        "import contextlib, io, json, sys\n"
        "from inceptionkit.cli import COMMANDS, main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    codes = [main(argv) for argv in [['--version'], ['--help']] + [[c, '--help'] for c in COMMANDS]]\n"
        f"print(json.dumps([codes, sorted(m for m in {HEAVY!r} if m in sys.modules)]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    codes, loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert codes == [0] * (2 + 12) and loaded == []


@pytest.mark.subprocess
def test_the_spec_only_commands_import_no_torch(tmp_path):
    """``summary``, ``cost`` and ``draw`` read specs: ``inceptionkit summary inception_v3`` took 1.9 s,
    1.2 s of it importing torch for an ``isinstance`` check; 0.27 s without."""
    import json
    import subprocess
    import sys

    code = (
        "import contextlib, io, json, sys\n"
        "from inceptionkit.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    codes = [main(['summary', 'inception_v3']), main(['summary', 'xception', '--format', 'json']),\n"
        "             main(['cost', 'conv', '--input', '28x28x192', '--filters', '32', '--kernel', '5']),\n"
        f"             main(['draw', 'googlenet', '-o', {str(tmp_path / 'g.svg')!r}])]\n"
        f"print(json.dumps([codes, sorted(m for m in {HEAVY!r} if m in sys.modules)]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    codes, loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert codes == [0, 0, 0, 0] and loaded == ["matplotlib"]  # draw's own

