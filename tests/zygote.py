"""Processes of ``inceptionkit`` that start in milliseconds: a zygote process imports what a command
needs once (torch, torch._dynamo, matplotlib, inceptionkit: about 6 s of every ``python -m
inceptionkit train``), then forks a child for each run. A child is a real process: it writes to its
own output file, sets its own environment and resource limits, exits with the command's code, and can
be killed at any instant (``kill -9`` gives -9, ``os._exit(137)`` gives 137), as a process started by
``subprocess.Popen`` can.

The zygote is single-threaded (one loop over its command pipe and ``waitpid``), so a fork never copies
a lock another thread holds; children replace the inherited ``sys.stdout``/``sys.stderr`` with ones
on their output file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ZYGOTE = r"""
import importlib, json, os, resource, select, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
os.write(1, b"ready 0 0\n")
commands, pending, children = os.fdopen(0, "rb", buffering=0), b"", set()
while True:
    readable, _, _ = select.select([commands], [], [], 0.005)
    if readable:
        chunk = commands.read(65536)
        if not chunk:
            break
        pending += chunk
    while b"\n" in pending:
        line, pending = pending.split(b"\n", 1)
        order = json.loads(line)
        if "kill" in order:  # only a child not yet reaped: its pid cannot have gone to another process
            if order["kill"] in children:
                os.kill(order["kill"], order["signal"])
            continue
        pid = os.fork()
        if pid == 0:
            commands.close()
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            fd = os.open(order["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.close(fd)
            sys.stdout = open(1, "w", buffering=1, closefd=False)
            sys.stderr = open(2, "w", buffering=1, closefd=False)
            os.environ.clear()
            os.environ.update(order["env"])
            if order["fsize"] is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (order["fsize"], order["fsize"]))
            from inceptionkit.cli import main
            sys.exit(main(order["args"]))  # the interpreter's own shutdown, as a fresh process has
        children.add(pid)
        os.write(1, f"started {pid} 0\n".encode())
    for pid in list(children):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            children.discard(pid)
            os.write(1, f"ended {pid} {os.waitstatus_to_exitcode(status)}\n".encode())
"""


# what `inceptionkit train` imports (6 s of it); matplotlib's Agg backend is chosen before the import
TRAIN_PRELOAD = ["torch", "torch._dynamo", "matplotlib.pyplot", "inceptionkit.cli", "inceptionkit.commands.train",
                 "inceptionkit.train"]  # fmt: skip


def train_environment(kill_at: str | None = None) -> dict[str, str]:
    """This process's environment for a train run: one thread (every run of a comparison must use
    the same thread count: CPU reductions split by thread), and ``INCEPTIONKIT_TEST_KILL_AT`` only
    where a kill point is given."""
    env = {k: v for k, v in os.environ.items() if k != "INCEPTIONKIT_TEST_KILL_AT"}
    env.update({"OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"})
    return {**env, "INCEPTIONKIT_TEST_KILL_AT": kill_at} if kill_at else env


class Zygote:
    """``Zygote(["torch", "inceptionkit.train"]).start(["train", ...], env)``: a Popen-like child."""

    def __init__(self, preload: list[str], env: dict[str, str]) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE, *preload], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        self._lock = threading.Condition()
        self._started: list[int] = []
        self._ended: dict[int, int] = {}
        self._forks = 0
        self._outputs = Path(tempfile.mkdtemp(prefix="inceptionkit-zygote-"))  # the children's output files
        self._ready = False
        threading.Thread(target=self._listen, daemon=True).start()
        with self._lock:
            if not self._lock.wait_for(lambda: self._ready or self._proc.poll() is not None, timeout=300):
                raise TimeoutError("the zygote did not start")
            if not self._ready:
                raise RuntimeError(f"the zygote ended with {self._proc.returncode}")

    def _listen(self) -> None:
        for line in self._proc.stdout:
            kind, pid, value = line.decode().split()
            with self._lock:
                if kind == "ready":
                    self._ready = True
                elif kind == "started":  # a pid the kernel reused: forget its last owner's status
                    self._started.append(int(pid))
                    self._ended.pop(int(pid), None)
                else:
                    self._ended[int(pid)] = int(value)
                self._lock.notify_all()

    def start(self, args: list[str], env: dict[str, str], fsize: int | None = None) -> Child:
        """Run ``inceptionkit ARGS`` in a new child with exactly ``env``, its output (stdout and stderr)
        into a file of the zygote's folder; ``fsize`` caps the size of any file it writes
        (``RLIMIT_FSIZE``)."""
        with self._lock:
            index, self._forks = self._forks, self._forks + 1
            out = self._outputs / f"{index}.out"
            order = {"args": args, "env": env, "out": str(out), "fsize": fsize}
            self._send(order)
            if not self._lock.wait_for(lambda: len(self._started) > index, timeout=60):
                raise TimeoutError("the zygote did not fork")
            return Child(self, self._started[index], out)

    def _send(self, order: dict) -> None:
        self._proc.stdin.write(json.dumps(order).encode() + b"\n")
        self._proc.stdin.flush()

    def kill(self, pid: int, sig: int) -> None:
        """Signal child ``pid`` if the zygote has not reaped it yet (else nothing, as Popen does)."""
        with self._lock:
            self._send({"kill": pid, "signal": sig})

    def returncode(self, pid: int, timeout: float | None) -> int | None:
        with self._lock:
            self._lock.wait_for(lambda: pid in self._ended, timeout=timeout)
            return self._ended.get(pid)

    def close(self) -> None:
        self._proc.stdin.close()
        self._proc.wait(timeout=60)
        shutil.rmtree(self._outputs, ignore_errors=True)


class Child:
    """The part of ``subprocess.Popen`` the tests use: poll, wait, send_signal, communicate."""

    def __init__(self, zygote: Zygote, pid: int, out: Path) -> None:
        self.zygote, self.pid, self.out = zygote, pid, out
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.zygote.returncode(self.pid, timeout=0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = self.zygote.returncode(self.pid, timeout)
        if self.returncode is None:
            raise subprocess.TimeoutExpired(str(self.pid), timeout)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            self.zygote.kill(self.pid, sig)

    def communicate(self, timeout: float | None = None) -> tuple[str, None]:
        self.wait(timeout)
        return self.out.read_text(), None

