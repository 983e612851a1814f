"""Issue 3: docs/guide.md cannot rot. Its ``python`` blocks run in order in one namespace; its
``console`` blocks' ``$ inceptionkit ...`` commands run, and the lines shown under each must appear
in what the command prints."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest

from inceptionkit.cli import main

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def blocks(lang: str) -> list[tuple[int, str]]:
    """(first line number, code) of every fenced block in ``lang``."""
    text = GUIDE.read_text()
    return [
        (text.count("\n", 0, m.start(2)) + 1, m.group(2)) for m in FENCE.finditer(text) if m.group(1) == lang
    ]


def commands() -> list[tuple[str, list[str]]]:
    """(command, lines shown under it) of every console block."""
    out: list[tuple[str, list[str]]] = []
    for _, code in blocks("console"):
        for line in code.splitlines():
            if line.startswith("$ "):
                out.append((line[2:], []))
            else:
                out[-1][1].append(line)
    return out


def squash(line: str) -> str:
    return " ".join(line.split())


def test_the_guide_has_what_the_issue_asks() -> None:
    text = GUIDE.read_text()
    assert len(blocks("python")) >= 8 and len(commands()) >= 5
    for needle in ("nn.Linear", "conv_cost", "inception_3a", "313", "782"):
        assert needle in text


def test_python_blocks_run(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # the guide saves drawings
    namespace: dict = {"__name__": "guide"}
    for line, code in blocks("python"):
        tree = ast.increment_lineno(ast.parse(code), line - 1)  # tracebacks point into guide.md
        exec(compile(tree, str(GUIDE), "exec"), namespace)
    import xml.etree.ElementTree as ET

    svg = ET.parse(tmp_path / "inception_3a.svg").getroot()  # a real SVG drawing of the block
    assert svg.tag.endswith("svg")
    text = " ".join(t.text or "" for t in svg.iter() if t.tag.endswith("text"))
    assert "1×1" in text or "1x1" in text


@pytest.mark.parametrize("command, shown", commands(), ids=[c for c, _ in commands()])
def test_console_commands_print_what_is_shown(tmp_path, monkeypatch, capsys, command, shown) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "100")
    argv = shlex.split(command)
    assert argv[0] == "inceptionkit"
    assert main(argv[1:]) == 0
    printed = {squash(line) for line in capsys.readouterr().out.splitlines()}
    assert [line for line in shown if squash(line) not in printed] == []
