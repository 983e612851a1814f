"""The warnings a metric's computation gave, kept with its result (``MetricResult.warnings``, the JSON's
``"warnings"``) as well as shown: a figure that means little must not travel without its caveat."""

from __future__ import annotations

import contextlib
import functools
import logging
import warnings
from collections.abc import Callable, Iterator
from typing import TypeVar

from ..errors import warnings_inside

T = TypeVar("T")


class _Keep(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage())
        if not self._others(logging.getLogger(record.name)) and logging.lastResort is not None:
            logging.lastResort.handle(record)  # shown as it would have been without this handler

    def _others(self, logger: logging.Logger | None) -> bool:
        while logger is not None:
            if any(h is not self for h in logger.handlers):
                return True
            logger = logger.parent if logger.propagate else None
        return False


@contextlib.contextmanager
def collected_warnings() -> Iterator[list[str]]:
    """The messages of the user warnings and ``inceptionkit`` log warnings given inside, in order;
    the warnings are shown as usual (re-issued on leaving, from where they were raised; one given
    again and again, in a loop, shows once, as Python's default filter shows it; and also when the
    block ends in an error)."""
    notes: list[str] = []
    logger = logging.getLogger("inceptionkit")
    keep = _Keep(notes)
    logger.addHandler(keep)
    caught: list[tuple] = []
    try:
        with warnings_inside("always", UserWarning, lambda *shown, **kw: caught.append(shown[:4])):
            yield notes
    finally:
        logger.removeHandler(keep)
        registry: dict = {}  # one for all: under "default" a warning repeated in a loop shows once
        for message, category, filename, lineno in caught:
            if issubclass(category, UserWarning):
                notes.append(str(message))
            warnings.warn_explicit(message, category, filename, lineno, registry=registry)


def noting(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn``, whose result gets the warnings given while it ran in its ``warnings`` list."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with collected_warnings() as notes:
            result = fn(*args, **kwargs)
        result.warnings.extend(n for n in notes if n not in result.warnings)
        return result

    return wrapper
