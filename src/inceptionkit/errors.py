"""The library's errors: one base class, so callers (and the CLI) can tell a refusal from a bug.

Every error that the library raises on purpose derives from :class:`InceptionKitError` and carries a
one-line message naming the file, field or argument at fault. ``exit_code`` is what the command line
returns for it: 2 for input the user can correct (usage), 1 for a command that ran and failed. Anything
else reaching the command line is a bug, and is shown as one.

Subclasses keep the builtin they replaced as a second base (``WeightsError`` is still a ``ValueError``)
so ``except ValueError`` in callers' code keeps working.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator


class InceptionKitError(Exception):
    """Base of every error inceptionkit raises on purpose; the message is one line for the user.

    ``field``: the argument at fault, by its Python name, when the message begins with it (``device
    meta cannot run a model here``): the library names arguments as Python does, and the command line
    words the same message with its flag (``--device meta cannot run a model here``)."""

    exit_code = 1

    def __init__(self, *args: object, field: str | None = None) -> None:
        super().__init__(*args)
        self.field = field

    def worded_for_the_command_line(self) -> str:
        """The message with a leading ``field`` written as its flag (``val_split`` -> ``--val-split``)."""
        text = str(self)
        if self.field and text.startswith(self.field) and text[len(self.field) : len(self.field) + 1] in " :":
            return "--" + self.field.replace("_", "-") + text[len(self.field) :]
        return text


class InceptionKitWarning(UserWarning):
    """A caveat on a result (a number that means little, a setting the library changed): the command
    line shows each one as a ``warning:`` line on every command, whatever filters the process has."""


@contextlib.contextmanager
def warnings_inside(action: str, category: type[Warning], show: Callable[..., None]) -> Iterator[None]:
    """Inside, warnings of ``category`` take ``action`` before any other filter, and what is shown goes
    to ``show`` (``warnings.showwarning``'s arguments). On leaving, that one filter and ``show`` are
    taken away and nothing else: the filters that modules imported inside added (their own
    "ignore"s, appended or not) stay where they put them. (``warnings.catch_warnings`` puts the
    whole list back as it was, which drops those.) A filter the caller already had that was the same
    as this one goes back to its place: before the first of the filters that followed it still there."""
    before = list(_filters())
    warnings.filterwarnings(action, category=category)
    ours = _filters()[0]  # the very entry filterwarnings made (it drops an equal one the caller had)
    had = next((i for i, f in enumerate(before) if f == ours), None)
    followers = [] if had is None else before[had + 1 :]
    shown, warnings.showwarning = warnings.showwarning, show
    try:
        yield
    finally:
        warnings.showwarning = shown
        filters = _filters()
        at = next((i for i, f in enumerate(filters) if f is ours), None)
        if at is not None:  # (None: a resetwarnings() inside took every filter away, the caller's too)
            del filters[at]
            if had is not None:
                nxt = next((i for i, f in enumerate(filters) if any(f is g for g in followers)), len(filters))
                filters.insert(nxt, ours)
        getattr(warnings, "_filters_mutated", lambda: None)()  # as filterwarnings does: registries are stale


def _filters() -> list:
    """The warnings filters in force (Python 3.14 keeps one list per context where context-aware
    warnings are on, and ``warnings.filters`` is then the global one)."""
    return getattr(warnings, "_get_filters", lambda: warnings.filters)()


class UsageError(InceptionKitError, ValueError):
    """Arguments or settings that cannot be used: the user can correct them (exit 2)."""

    exit_code = 2


class UnknownName(UsageError, KeyError):
    """A name (a model's stage, a block) that does not exist; still a ``KeyError`` for callers."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class InputError(UsageError):
    """An input tensor, size or file named by the user that the model cannot take."""


class OutputError(UsageError):
    """An output path that cannot be written: a folder, a device, a read-only folder, an input."""


class ConfigError(UsageError):
    """Training settings or a run folder that cannot be used."""


class WeightsError(InceptionKitError, ValueError):
    """A weight file or tag that cannot be used, with a one-line reason naming the file."""

    exit_code = 2


class DownloadError(WeightsError):
    """A published file that could not be downloaded (offline, cut short, not the published file):
    the command ran and failed (exit 1)."""

    exit_code = 1


class DataError(InceptionKitError, ValueError):
    """A dataset that cannot be used: missing, empty, one class, inconsistent splits."""

    exit_code = 2


class ImageError(InceptionKitError):
    """A file that cannot be used as an image; the message says why, in one line."""


class CommandError(InceptionKitError):
    """A command that ran but failed (exit 1)."""


class ExportError(InceptionKitError, RuntimeError):
    """An export that ran but whose file does not compute what the model computes."""


class EngineError(InceptionKitError, RuntimeError):
    """An inference engine that is not installed or cannot run here (the message says how to fix it)."""

    exit_code = 2


class Diverged(InceptionKitError, RuntimeError):
    """The loss (or the weights) stopped being finite."""


class MetricError(InceptionKitError, ValueError):
    """A metric (FID, KID, IS) that cannot be computed as asked: too few images, mismatched statistics."""

    exit_code = 2


class UnreadableImages(MetricError):
    """Images of a metric's input that cannot be read: the metric is not computed on the rest unless
    asked (``--skip-bad``), since a metric silently computed on a subset misleads (exit 1)."""

    exit_code = 1
