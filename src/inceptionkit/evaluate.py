"""Accuracy of a classifier on labelled images: top-1, top-5, loss, confusion matrix."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .inference.results import Guess, top_k


@dataclass
class EvalResult:
    """Counts over a labelled set; ``confusion[t, p]`` counts images of class t predicted as p."""

    classes: list[str]
    confusion: torch.Tensor
    topk_correct: int
    k: int  # 5, or the number of classes when there are fewer
    loss_sum: float  # cross-entropy, no label smoothing
    # per image, in input order (when asked): its top-k guesses, or why it has none (logits not finite)
    answers: list[list[Guess] | str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.confusion.sum())

    @property
    def correct(self) -> int:
        return int(self.confusion.diag().sum())

    @property
    def top1(self) -> float:
        return self.correct / max(self.n, 1)

    @property
    def topk(self) -> float:
        return self.topk_correct / max(self.n, 1)

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.n, 1)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    classes: list[str],
    *,
    device: torch.device | str = "cpu",
    channels_last: bool = False,
    amp: bool = False,
    distributed: bool = False,
    answers: bool = False,
) -> EvalResult:
    """Run ``model`` in eval mode over ``batches`` of (images, labels).

    ``distributed``: every process passes its own share of the set; the counts are summed over
    the process group, so each process returns the result for the whole set. ``answers``: also
    keep each image's top-k classes with their probabilities (``EvalResult.answers``, this process's
    images in order), as ``predict`` gives them.
    """
    device = torch.device(device)
    c = len(classes)
    k = min(5, c)
    was_training = model.training
    model.eval()
    confusion = torch.zeros(c * c, dtype=torch.float64, device=device)
    topk = torch.zeros((), dtype=torch.float64, device=device)
    loss = torch.zeros((), dtype=torch.float64, device=device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    kept: list[list[Guess] | str] = []
    for x, y in batches:
        x = x.to(device, non_blocking=True).contiguous(memory_format=fmt)
        y = y.to(device, non_blocking=True)
        with torch.autocast(device.type, enabled=amp):
            logits = model(x).float()
        loss += F.cross_entropy(logits, y, reduction="sum").double()
        if answers:
            kept += top_k(logits, k, list(classes))
        pred = logits.topk(k, dim=1).indices
        topk += (pred == y[:, None]).any(dim=1).sum()
        confusion += torch.bincount(y * c + pred[:, 0], minlength=c * c).double()
    model.train(was_training)
    packed = torch.cat([confusion, topk[None], loss[None]])
    if distributed:
        torch.distributed.all_reduce(packed)
    packed = packed.cpu()
    return EvalResult(
        list(classes),
        packed[: c * c].round().long().view(c, c),
        int(packed[c * c]),
        k,
        float(packed[c * c + 1]),
        kept,
    )


def format_confusion(result: EvalResult) -> str:
    """The confusion matrix as a text table: rows are the true classes, columns the predictions."""
    names = [str(n) for n in result.classes]
    counts = result.confusion.tolist()
    width = max(max(len(n) for n in names), len(str(max(max(r) for r in counts))), 1)
    corner = "true/pred"
    label = max(max(len(n) for n in names), len(corner))
    lines = [f"{corner:>{label}}  " + " ".join(f"{n[:width]:>{width}}" for n in names)]
    for name, row in zip(names, counts, strict=True):
        lines.append(f"{name:>{label}}  " + " ".join(f"{v:>{width}}" for v in row))
    return "\n".join(lines)


def save_confusion_png(result: EvalResult, path: str | Path, title: str = "") -> None:
    """The confusion matrix as an image (counts in the cells), written atomically."""
    from matplotlib.figure import Figure

    from .fileio import atomic_write

    c = len(result.classes)
    side = min(4 + 0.45 * c, 30)
    fig = Figure(figsize=(side, side * 0.9), layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(result.confusion.numpy(), cmap="Blues")
    fig.colorbar(im, ax=ax, shrink=0.8)
    ticks = range(c)
    ax.set_xticks(ticks, [str(n) for n in result.classes], rotation=90 if c > 10 else 0)
    ax.set_yticks(ticks, [str(n) for n in result.classes])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"top-1 {result.top1:.2%} of {result.n}")
    if c <= 30:
        peak = max(int(result.confusion.max()), 1)
        for t in ticks:
            for p in ticks:
                v = int(result.confusion[t, p])
                if v:
                    ax.text(
                        p,
                        t,
                        str(v),
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if v > peak / 2 else "black",
                    )
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))


class _Sample:
    """Sample ``i`` of ``samples`` through ``transform``: the per-item transform of the loading loop."""

    def __init__(self, samples, transform) -> None:
        self.samples, self.transform = samples, transform

    def __call__(self, i: int) -> torch.Tensor:
        return self.transform(self.samples.load(i))


def evaluate_samples(
    model: nn.Module, samples, classes: list[str], transform, settings, *, batch_size: int, answers: bool = False
) -> EvalResult:
    """:func:`evaluate` over labelled ``samples`` (:class:`~inceptionkit.data.Samples`), read through
    the one loading loop (:func:`~inceptionkit.loader.load_batches`, ``settings``' workers) with
    ``transform``; an image that cannot be read stops the evaluation, naming it."""
    from .errors import DataError
    from .loader import load_batches

    def batches():
        for b in load_batches(list(range(len(samples))), _Sample(samples, transform), batch_size=batch_size,
                              workers=settings.worker_count(), progress=False):  # fmt: skip
            if bad := [(samples.items[i], e) for i, e in zip(b.indices, b.errors, strict=True) if e is not None]:
                raise DataError(f"{bad[0][0]}: {bad[0][1]}")
            yield b.batch, torch.tensor([samples.targets[i] for i in b.good])

    device = next(model.parameters()).device  # where the model was loaded (``settings.device``)
    return evaluate(model, batches(), classes, device=device, answers=answers)
