"""What a statistics file must hold before a metric is computed from it, and what makes a computed
figure mean nothing.

A statistics file comes from outside (another tool, another machine, a hand edit), so each array is
checked by name before use: a NaN in ``mu`` would print ``FID: nan``, a ``sigma`` that is not
symmetric positive semi-definite a negative "distance". :func:`checked_moments` and
:func:`checked_count` take (name, array) pairs, so a file layout with other names (guided-diffusion's
``mu_s``, ``sigma_s``) is checked the same way. Every refusal is one :class:`MetricError` line
naming the file and the field. :func:`interruptible` keeps Ctrl-C prompt during the long native
calls of the checks and of the distance.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import warnings
from collections.abc import Iterator

import numpy as np

from ..errors import InceptionKitWarning, MetricError

# sigma's smallest eigenvalue may be this far below zero, relative to its largest (float rounding)
PSD_TOLERANCE = 1e-6
# below this, relative to the mean's squared norm, a covariance's trace is zero: the features do not vary
FLAT_TRACE = 1e-10


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Ctrl-C ends the process at once during a long native call (scipy's sqrtm holds the GIL for
    seconds, so Python would raise KeyboardInterrupt only after it): SIGINT's default action for the
    call, where the handler in place only raises KeyboardInterrupt (Python's own, or one marked
    ``keyboard_interrupt`` as the command line's is). Nothing is written meanwhile."""
    handler = signal.getsignal(signal.SIGINT)
    plain = handler is signal.default_int_handler or getattr(handler, "keyboard_interrupt", False)
    if threading.current_thread() is not threading.main_thread() or not plain:
        yield
        return
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler)


def loaded_array(f: np.lib.npyio.NpzFile, name: str, source: object) -> np.ndarray:
    """Array ``name`` of an open ``.npz``; one that holds Python objects is refused by name (numpy's
    own message advises ``allow_pickle=``), never unpickled."""
    try:
        return f[name]
    except ValueError as e:
        if "allow_pickle" not in str(e):
            raise
        raise MetricError(f"{source}: {name} holds Python objects (a pickle), which are never loaded") from None


def _real_floats(source: str, name: str, a: np.ndarray) -> np.ndarray:
    if np.iscomplexobj(a):
        raise MetricError(f"{source}: {name} is complex ({a.dtype}); statistics are real numbers")
    if a.dtype.kind != "f":
        raise MetricError(f"{source}: {name} is {a.dtype}, not floating point")
    bad = ~np.isfinite(a)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        index = ", ".join(map(str, where))
        raise MetricError(
            f"{source}: {name} has {int(bad.sum())} value(s) that are NaN or infinite "
            f"(the first, {name}[{index}], is {a[where]})"
        )
    return a.astype(np.float64)


def checked_mean(source: str, name: str, a: np.ndarray) -> np.ndarray:
    """``a`` as a float64 mean vector, or one line saying why it is not one."""
    if a.ndim != 1 or a.shape[0] == 0:
        raise MetricError(f"{source}: {name} has shape {a.shape}; a mean is a vector (dims,)")
    return _real_floats(source, name, a)


def checked_covariance(source: str, name: str, a: np.ndarray, dims: int) -> np.ndarray:
    """``a`` as a float64 (dims, dims) covariance: finite, symmetric within float rounding, positive
    semi-definite (no eigenvalue below -PSD_TOLERANCE times the largest); or one line saying why not."""
    if a.shape != (dims, dims):
        raise MetricError(
            f"{source}: {name} has shape {a.shape}; the mean's {dims} dims need ({dims}, {dims})"
        )
    s = _real_floats(source, name, a)
    scale = float(np.abs(s).max())
    asym = np.abs(s - s.T)
    if asym.max() > np.sqrt(np.finfo(a.dtype).eps) * scale:
        i, j = (int(k) for k in np.unravel_index(asym.argmax(), asym.shape))
        raise MetricError(
            f"{source}: {name} is not symmetric: {name}[{i}, {j}] is {s[i, j]:.6g}, {name}[{j}, {i}] "
            f"{s[j, i]:.6g} (a covariance is symmetric)"
        )
    with interruptible():
        if _clearly_psd(s):
            return s
        eig = np.linalg.eigvalsh(s)
    if eig[0] < -PSD_TOLERANCE * max(abs(eig[-1]), abs(eig[0])):
        raise MetricError(
            f"{source}: {name} is not positive semi-definite: its smallest eigenvalue is {eig[0]:.6g}, "
            f"its largest {eig[-1]:.6g} (a covariance has none below 0)"
        )
    return s


def _clearly_psd(s: np.ndarray) -> bool:
    """Whether ``s`` passes the test above, told by a Cholesky factorisation (a quarter of the
    eigenvalues' time: 0.15 s against 0.9 s at 2048 dims on one core). ``s`` shifted by PSD_TOLERANCE
    times its largest diagonal entry, which is no larger than its largest eigenvalue, factors only if
    no eigenvalue lies below -PSD_TOLERANCE times that entry (to float rounding, ~1e-13 of it), so
    inside the test's bound; where it does not factor, the eigenvalues decide and name the failure."""
    shift = PSD_TOLERANCE * max(float(np.max(np.diag(s))), 0.0)
    try:
        np.linalg.cholesky(s + shift * np.eye(len(s)))
    except np.linalg.LinAlgError:
        return False
    return True


def checked_moments(
    source: str, mean: tuple[str, np.ndarray], cov: tuple[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """A (name, array) pair for the mean and one for the covariance, checked and as float64."""
    mu = checked_mean(source, *mean)
    return mu, checked_covariance(source, *cov, dims=mu.shape[0])


def checked_count(source: str, name: str, a: np.ndarray) -> int:
    """A count of images: a non-negative integer scalar."""
    if a.ndim != 0:
        raise MetricError(f"{source}: {name} has shape {a.shape}; a count of images is one integer")
    if a.dtype.kind not in "iu":
        raise MetricError(f"{source}: {name} is {a.dtype}; a count of images is an integer")
    if int(a) < 0:
        raise MetricError(f"{source}: {name} is {int(a)}; a count of images is 0 or more")
    return int(a)


def checked_text(source: str, name: str, a: np.ndarray) -> str:
    """A string scalar (``inceptionkit_mode``)."""
    if a.ndim != 0 or a.dtype.kind not in "US":
        raise MetricError(f"{source}: {name} is a {a.dtype} array of shape {a.shape}, not a string")
    if a.dtype.kind == "S":  # bytes (numpy's 'S'), as another tool may save a name: read as ASCII
        try:
            return a.item().decode("ascii")
        except UnicodeDecodeError:
            raise MetricError(f"{source}: {name} holds bytes that are not ASCII text") from None
    return str(a)


def unreliable(stats: list, dims: int) -> str:
    """Why a distance between these :class:`~.stats.Statistics` means little, in one line ("" when
    nothing is known wrong): no more images than dims (a singular covariance), or features that do
    not vary (an untrained network, identical images)."""
    reasons = []
    for s in stats:
        why = []
        if s.count is not None and 0 < s.count <= dims:
            why.append(f"{s.count} images for {dims} dims (a singular covariance: use more images than dims)")
        elif s.count is None and s.rank is not None and s.rank < dims:
            why.append(
                f"a covariance of rank {s.rank} for {dims} dims (the statistics of {s.rank + 1} images or fewer: "
                "a singular covariance)"
            )
        trace = float(np.trace(s.sigma))
        if trace <= FLAT_TRACE * max(float(s.mu.dot(s.mu)), 1e-2):
            why.append(f"features that do not vary (the trace of the covariance is {trace:.3g})")
        if why:
            reasons.append(f"{s.source} has {' and '.join(why)}")
    return "; ".join(reasons)


def caution(stats: list, dims: int, subject: str = "the FID is", stacklevel: int = 4) -> None:
    """One :class:`~inceptionkit.errors.InceptionKitWarning` saying why a distance between these
    statistics (``subject``: "the FID is", "the FIDs are") means little (:func:`unreliable`); nothing
    when nothing is known wrong. Every way to a Fréchet distance (``calculate_metrics``,
    ``compare_modes``, the stateful metric) warns through this. ``stacklevel``: as
    :func:`warnings.warn`'s, counted from here (4: the caller of a metric wrapped by
    :func:`~.notes.noting`)."""
    if why := unreliable(stats, dims):
        warnings.warn(f"{subject} not reliable: {why}", InceptionKitWarning, stacklevel=stacklevel)


def kid_caution(size: int, n1: int, n2: int) -> None:
    """KID's ± means nothing where every subset of ``size`` is the whole of both inputs."""
    if size >= max(n1, n2):
        warnings.warn(
            f"KID's ± is 0 by construction: each of its subsets of {size} is the whole of both inputs; "
            "use a smaller --kid-subset-size for a spread", InceptionKitWarning, stacklevel=4,
        )  # fmt: skip


def isc_caution(n: int, splits: int, label: str) -> None:
    """The Inception Score means nothing where a split holds one image (its marginal is its own
    prediction: the split scores 1)."""
    if n < 2 * splits:
        warnings.warn(
            f"the Inception Score is not reliable: {label}'s {n} images in {splits} splits leave splits of one "
            "image, which score 1 by construction; use fewer --isc-splits", InceptionKitWarning, stacklevel=4,
        )  # fmt: skip

