"""What a run tells: the epoch's running sums, metrics.csv, curves.png and TensorBoard."""

from __future__ import annotations

import csv
import io
from dataclasses import astuple, dataclass
from pathlib import Path

import torch

from ..errors import ConfigError
from ..fileio import atomic_write

METRIC_FIELDS = (
    "epoch",
    "step",
    "lr",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "val_top5",
    "seconds",
    "img_per_s",
)


@dataclass
class EpochSums:
    """The epoch so far: summed over its batches (and, once gathered, over the processes)."""

    loss: float = 0.0  # loss x images
    correct: float = 0.0
    images: float = 0.0
    seconds: float = 0.0

    def add(self, loss: float, correct: float, images: int) -> None:
        self.loss += loss * images
        self.correct += correct
        self.images += images

    @property
    def mean_loss(self) -> float:
        return self.loss / max(self.images, 1)

    @property
    def accuracy(self) -> float:
        return self.correct / max(self.images, 1)

    def images_per_second(self, processes: int = 1) -> float:
        return self.images * processes / max(self.seconds, 1e-9)

    def to_list(self) -> list[float]:  # how train_state.pt stores them
        return list(astuple(self))

    @classmethod
    def from_list(cls, values) -> EpochSums:
        return cls(*(float(v) for v in values))

    def gathered(self, world: int) -> EpochSums:
        """The sums over every process (the seconds: their mean, as they train side by side)."""
        if world == 1:
            return EpochSums(*astuple(self))
        t = torch.tensor(self.to_list(), dtype=torch.float64)
        torch.distributed.all_reduce(t)
        t[3] /= world
        return EpochSums.from_list(t.tolist())


# seconds: curves.png is drawn again at an epoch's end at most this often (and after the last)
CURVES_EVERY = 30.0


def write_metrics(history: list[dict], run_dir: Path, title: str, curves: bool = True) -> None:
    """metrics.csv (one row per epoch) and, if ``curves``, curves.png, each written atomically. (Drawing
    the PNG takes about 0.2 s: after every 2.7 s epoch of the digits job it was 7% of the run, so the
    trainer draws it after the first epoch, then at most every :data:`CURVES_EVERY` seconds, and
    after the last.)"""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=METRIC_FIELDS)
    w.writeheader()
    w.writerows(history)
    atomic_write(run_dir / "metrics.csv", lambda tmp: Path(tmp).write_text(buf.getvalue()))
    if curves:
        save_curves(history, run_dir / "curves.png", title=title)


def metrics_rows(run_dir: Path) -> int:
    """How many epochs metrics.csv holds (0 if it is missing or unreadable)."""
    try:
        with open(run_dir / "metrics.csv", newline="") as f:
            return sum(1 for _ in csv.DictReader(f))
    except (OSError, csv.Error, UnicodeDecodeError):
        return 0


def save_curves(history: list[dict], path: str | Path, title: str = "") -> None:
    """Loss and accuracy per epoch (train and validation) as a PNG, written atomically."""
    from matplotlib.figure import Figure

    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(10, 4), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    for ax, key, label in ((loss_ax, "loss", "loss"), (acc_ax, "acc", "top-1 accuracy")):
        ax.plot(epochs, [h[f"train_{key}"] for h in history], "o-", label="train")
        ax.plot(epochs, [h[f"val_{key}"] for h in history], "o-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))


def require_tensorboard() -> None:
    """ConfigError unless TensorBoard logs can be written (checked before anything is created)."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise ConfigError("tensorboard needs the tensorboard package: pip install tensorboard", field="tensorboard") from None


def summary_writer(path: Path, step: int):
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(path), purge_step=step or None)


def rate(per_second: float) -> str:
    """Images per second, with the digits that matter: 312, 41.5, 0.38 (a slow run is not "0")."""
    return f"{per_second:.0f}" if per_second >= 100 else f"{per_second:.3g}"


def epoch_line(row: dict, epochs: int, k: int, best: bool) -> str:
    return (
        f"epoch {row['epoch']:>{len(str(epochs))}}/{epochs}  "
        f"loss {row['train_loss']:.3f}  acc {row['train_acc']:.2%}  val loss {row['val_loss']:.3f}  "
        f"val acc {row['val_acc']:.2%}  top-{k} {row['val_top5']:.2%}  lr {row['lr']:.2e}  "
        f"{row['seconds']:.1f} s  {rate(row['img_per_s'])} img/s{'  *' if best else ''}"
    )
