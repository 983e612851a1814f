"""Training as a library: schedule, optimizer settings, auxiliary losses, the run folder, fine-tuning
with a frozen backbone, divergence. Runs are tiny (8x8 digits, a few steps) to stay quick on a CPU."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import make_folder
from PIL import Image
from safetensors.torch import load_file

from inceptionkit import create_model
from inceptionkit.preprocess import Preprocess
from inceptionkit.train import (
    ConfigError,
    Diverged,
    Stepper,
    TrainConfig,
    aux_weights,
    benchmark_training,
    default_lr,
    lr_factor,
    make_optimizer,
    resolve,
    train,
)
from inceptionkit.train.dist import sync_batchnorm
from inceptionkit.train.setup import build_model
from inceptionkit.weights.native import WeightMeta, load_native, save_native

TINY = dict(img_size=8, epochs=1, max_train_images=128, batch_size=32, device="cpu", progress=False)


def test_schedule_warmup_cosine_and_paper():
    kw = dict(total=100, warmup=10, steps_per_epoch=10)
    assert lr_factor(0, schedule="cosine", **kw) == pytest.approx(0.1)
    assert lr_factor(9, schedule="cosine", **kw) == 1.0
    assert lr_factor(10, schedule="cosine", **kw) == 1.0
    assert lr_factor(55, schedule="cosine", **kw) == pytest.approx(0.5)  # half way down the cosine
    assert lr_factor(100, schedule="cosine", **kw) == pytest.approx(0.0)
    # Inception-v3 paper: exponential rate 0.94 every two epochs
    assert lr_factor(19, schedule="paper", **kw) == 1.0
    assert lr_factor(20, schedule="paper", **kw) == pytest.approx(0.94)
    assert lr_factor(45, schedule="paper", **kw) == pytest.approx(0.94**2)


def test_optimizer_settings():
    assert default_lr("rmsprop", 32) == pytest.approx(0.045)  # the paper's rate per 32 images
    assert default_lr("rmsprop", 64) == pytest.approx(0.09)
    assert default_lr("sgd", 256) == pytest.approx(0.1)  # Goyal et al.
    net = create_model("inception_small", num_classes=10, in_chans=1)
    cfg = resolve(TrainConfig(optimizer="rmsprop"), net)
    opt = make_optimizer(cfg, net)
    assert isinstance(opt, torch.optim.RMSprop)
    # paper: decay 0.9, epsilon 1.0; TF-slim's momentum 0.9
    assert opt.defaults["alpha"] == 0.9 and opt.defaults["eps"] == 1.0 and opt.defaults["momentum"] == 0.9
    decay, flat = opt.param_groups
    assert decay["weight_decay"] == 4e-5 and flat["weight_decay"] == 0.0
    assert all(p.ndim == 1 for p in flat["params"])  # biases and batch norm are not decayed
    assert isinstance(make_optimizer(resolve(TrainConfig(optimizer="adamw"), net), net), torch.optim.AdamW)


def test_aux_loss_weights():
    assert aux_weights(create_model("inception_v3", num_classes=10, aux_logits=True)) == [0.4]
    assert aux_weights(create_model("googlenet", num_classes=10, aux_logits=True)) == [0.3, 0.3]


def test_stepper_adds_the_weighted_aux_losses():
    torch.manual_seed(0)
    net = create_model("googlenet", num_classes=5, aux_logits=True, drop_rate=0.0)
    for head in net.aux.values():
        head.dropout.p = 0.0  # torchvision's googlenet aux heads drop 0.7; off for a repeatable forward
    x, y = torch.randn(4, 3, 64, 64), torch.tensor([0, 1, 2, 3])
    net.train()
    logits, aux1, aux2 = net(x)
    expected = sum(
        w * F.cross_entropy(o, y, label_smoothing=0.1)
        for w, o in zip([1.0, 0.3, 0.3], [logits, aux1, aux2], strict=True)
    )
    opt = torch.optim.SGD(net.parameters(), lr=0.0)
    step = Stepper(
        net,
        opt,
        torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0),
        torch.amp.GradScaler("cpu", enabled=False),
        torch.device("cpu"),
        False,
        False,
        0.1,
        aux_weights(net),
    )
    loss, correct = step(x, y)
    assert float(loss) == pytest.approx(float(expected.detach()), rel=1e-5)
    assert int(correct) == int((logits.argmax(1) == y).sum())


def test_digits_run_folder(tmp_path, capsys):
    run = tmp_path / "run"
    result = train(TrainConfig(**{**TINY, "epochs": 2}, run_dir=str(run), tensorboard=True))
    out = capsys.readouterr()
    lines = out.out.strip().splitlines()
    assert lines[-1].startswith("held-out test accuracy: ")  # printed last
    assert f"({result.final.correct}/359," in lines[-1]
    assert out.err == ""  # no progress bar when stderr is not a terminal
    names = {p.name for p in run.iterdir()}
    assert {
        "config.json",
        "best.safetensors",
        "last.safetensors",
        "checkpoints",
        "metrics.csv",
        "curves.png",
        "tensorboard",
    } <= names
    assert any((run / "tensorboard").iterdir())
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2] and int(rows[-1]["step"]) == 8  # 128 / 32 x 2
    assert float(rows[-1]["val_acc"]) == pytest.approx(result.history[-1]["val_acc"])
    config = json.loads((run / "config.json").read_text())
    assert config["config"]["optimizer"] == "rmsprop" and config["classes"] == [str(d) for d in range(10)]
    (checkpoint,) = (run / "checkpoints").iterdir()  # one complete set: the latest
    assert checkpoint.name == "step-000000008"
    assert {p.name for p in checkpoint.iterdir()} == {
        "last.safetensors",
        "best.safetensors",
        "train_state.pt",
        "manifest.json",
    }
    assert (run / "last.safetensors").read_bytes() == (checkpoint / "last.safetensors").read_bytes()
    state = torch.load(checkpoint / "train_state.pt", weights_only=True)
    assert state["global_step"] == 8 and state["epoch"] == 2 and state["batch"] == 0
    assert {"optimizer", "scheduler", "scaler", "history"} <= set(state)
    best = load_native(run / "best.safetensors")  # what predict and eval load
    assert best.weight_meta.classes == [str(d) for d in range(10)]
    assert best.weight_meta.preprocess == Preprocess(8, None, "bilinear", (0.5,), (0.5,), 1)
    assert best.in_chans == 1 and best.num_classes == 10
    last = load_file(run / "last.safetensors")
    assert all(torch.equal(last[k], v.contiguous()) for k, v in result.model.state_dict().items())
    conv = result.model.features["conv"].conv.weight
    assert conv.is_contiguous(memory_format=torch.channels_last)  # channels_last on CPU


def test_progress_bar_when_asked(tmp_path, capsys):
    train(TrainConfig(**{**TINY, "progress": True}, run_dir=str(tmp_path / "run")))
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "loss=" in err and "acc=" in err and "img_s=" in err and "<" in err  # ETA


def fine_tune_setup(tmp_path):
    """A pretrained file (inceptionkit format, 10 classes) and a 2-class folder to fine-tune on."""
    torch.manual_seed(1)
    pretrained = create_model("inception_small", num_classes=10, in_chans=3)
    with torch.no_grad():  # statistics that differ from a fresh model's, to see that they stay
        for name, b in pretrained.named_buffers():
            if "running_mean" in name:
                b.normal_()
    path = tmp_path / "pretrained.safetensors"
    save_native(
        path, pretrained, WeightMeta(Preprocess(size=28, crop_pct=0.875), [str(i) for i in range(10)])
    )
    make_folder(tmp_path / "data", {"ant": 12, "bee": 12}, size=10)
    return path, pretrained


def test_freeze_backbone_trains_the_head_only(tmp_path):
    path, pretrained = fine_tune_setup(tmp_path)
    cfg = TrainConfig(
        data=str(tmp_path / "data"),
        weights=str(path),
        freeze_backbone=True,
        img_size=8,
        epochs=2,
        batch_size=8,
        val_split=0.25,
        device="cpu",
        progress=False,
        run_dir=str(tmp_path / "run"),
    )
    torch.manual_seed(cfg.seed)  # the fresh classifier the run starts from
    head = create_model("inception_small", weights=path, num_classes=2).fc.weight.detach().clone()
    result = train(cfg, verbose=False)
    net = result.model
    assert not torch.equal(net.fc.weight, head)
    assert net.num_classes == 2 and net.fc.weight.shape == (2, net.num_features)
    before = pretrained.state_dict()
    for k, v in net.state_dict().items():
        if not k.startswith("fc."):
            assert torch.equal(v, before[k]), k  # weights and batch norm statistics as loaded
    config = json.loads((tmp_path / "run" / "config.json").read_text())["config"]
    # fine-tuning defaults: momentum SGD at 0.1 per 256 images (the head alone: no tenth)
    assert config["optimizer"] == "sgd" and config["lr"] == pytest.approx(0.1 * 8 / 256)
    meta = load_native(tmp_path / "run" / "best.safetensors").weight_meta
    assert meta.classes == ["ant", "bee"] and meta.preprocess.size == 8 and meta.preprocess.crop_pct == 0.875


def test_fine_tune_whole_network(tmp_path):
    path, pretrained = fine_tune_setup(tmp_path)
    cfg = TrainConfig(
        data=str(tmp_path / "data"),
        weights=str(path),
        img_size=8,
        epochs=1,
        batch_size=8,
        val_split=0.25,
        device="cpu",
        progress=False,
        run_dir=str(tmp_path / "run"),
    )
    result = train(cfg, verbose=False)
    conv = "features.conv.conv.weight"
    assert not torch.equal(result.model.state_dict()[conv], pretrained.state_dict()[conv])
    config = json.loads((tmp_path / "run" / "config.json").read_text())["config"]
    assert config["lr"] == pytest.approx(0.1 * 8 / 256 * 0.1)  # a tenth when the backbone trains too


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    run = tmp_path / "run"
    cfg = TrainConfig(**TINY, optimizer="sgd", lr=1e30, warmup_epochs=0, checkpoint_every=1, run_dir=str(run))
    with pytest.raises(Diverged, match=r"the loss became nan at step 2 .*last good checkpoint .* is intact"):
        train(cfg, verbose=False)
    state = torch.load(run / "checkpoints" / "step-000000001" / "train_state.pt", weights_only=True)
    assert state["global_step"] == 1
    weights = load_native(run / "last.safetensors").state_dict()
    assert all(torch.isfinite(t).all() for t in weights.values() if t.is_floating_point())
    assert not (run / "best.safetensors").exists()


def test_sync_batchnorm_keeps_names_and_numbers():
    # inception_small's batch norm has a shift but no scale (TF's default), which torch's own
    # convert_sync_batchnorm would drop
    torch.manual_seed(0)
    net = create_model("inception_small", num_classes=10, in_chans=1)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    reference = create_model("inception_small", num_classes=10, in_chans=1)
    reference.load_state_dict(net.state_dict())
    synced = sync_batchnorm(net)
    assert sum(isinstance(m, torch.nn.SyncBatchNorm) for m in synced.modules()) == 19  # every one
    assert list(synced.state_dict()) == list(reference.state_dict())
    x = torch.randn(4, 1, 12, 12)
    for mode in (True, False):  # one process: SyncBatchNorm computes what BatchNorm does
        synced.train(mode)
        reference.train(mode)
        torch.testing.assert_close(synced(x), reference(x))


def test_benchmark_training_reports_both_loops():
    r = benchmark_training("inception_small", batch_size=4, steps=2, img_size=16)
    assert (r["model"], r["batch_size"], r["img_size"], r["device"]) == ("inception_small", 4, 16, "cpu")
    assert set(r["losses"]) == {"plain", "ours", "ours_amp"}
    # after three steps on the same batch with the same dropout, inceptionkit's step (channels_last,
    # its loss and checks) has trained exactly as the plain loop; bfloat16 autocast close to it
    assert r["losses"]["ours"] == pytest.approx(r["losses"]["plain"], rel=1e-4)
    assert r["losses"]["ours_amp"] == pytest.approx(r["losses"]["plain"], rel=5e-2)
    assert r["losses"]["plain"] < 0.9 * math.log(1000)  # it learned the batch (chance: ln 1000)


def grey_checkpoint(tmp_path):
    """A digits-like checkpoint: inception_small for 12x12 grey images (1 channel), 10 classes."""
    torch.manual_seed(2)
    net = create_model("inception_small", num_classes=10, in_chans=1)
    path = tmp_path / "digits.safetensors"
    save_native(
        path, net, WeightMeta(Preprocess(12, None, "bilinear", (0.5,), (0.5,), 1), list("0123456789"))
    )
    return path, net


def test_fine_tuning_grey_weights_on_colour_images_asks_for_in_chans(tmp_path):
    path, grey = grey_checkpoint(tmp_path)
    make_folder(tmp_path / "photos", {"ant": 4, "bee": 4}, size=48)  # RGB
    cfg = TrainConfig(
        data=str(tmp_path / "photos"), weights=str(path), epochs=1, batch_size=4, val_split=0.25
    )
    cfg = replace(cfg, device="cpu", progress=False, run_dir=str(tmp_path / "run"))
    with pytest.raises(ConfigError) as e:
        train(cfg, verbose=False)
    assert str(e.value) == (
        f"{path} was trained on 12x12 grey images (1 channel), but {tmp_path / 'photos'} holds colour "
        "images (e.g. 48x48 RGB): pass --in-chans 3 to adapt its first convolution to colour (as timm "
        "does) or --in-chans 1 to train on grey, and --img-size N to choose the input size (default 12, "
        "the weights')"
    )
    assert not (tmp_path / "run").exists()

    # --in-chans 3: the first convolution adapted by timm's own rule, the rest as loaded
    from timm.models import adapt_input_conv

    net = build_model(replace(cfg, in_chans=3), 2)
    first = "features.conv.conv.weight"
    want = adapt_input_conv(3, grey.state_dict()[first], base_chans=1)
    assert net.in_chans == 3 and torch.equal(net.state_dict()[first], want)
    assert torch.equal(net.state_dict()["features.conv.bn.bias"], grey.state_dict()["features.conv.bn.bias"])
    assert net.weight_meta.preprocess.mean == (0.5, 0.5, 0.5) and net.weight_meta.preprocess.channels == 3
    result = train(replace(cfg, in_chans=3, img_size=16), verbose=False)
    meta = load_native(tmp_path / "run" / "best.safetensors").weight_meta
    assert result.model.in_chans == 3 and (meta.preprocess.channels, meta.preprocess.size) == (3, 16)


def test_fine_tuning_on_much_larger_images_says_which_size_it_trains_at(tmp_path, capsys):
    path, _ = grey_checkpoint(tmp_path)
    make_folder(tmp_path / "photos", {"ant": 4, "bee": 4}, size=48)
    cfg = TrainConfig(
        data=str(tmp_path / "photos"), weights=str(path), epochs=1, batch_size=4, val_split=0.25
    )
    train(replace(cfg, in_chans=1, device="cpu", progress=False, run_dir=str(tmp_path / "run")))
    out = capsys.readouterr().out
    assert "images at 12x12x1" in out
    assert (
        f"note: training at 12x12, the input size of {path}; the images of {tmp_path / 'photos'} are "
        "larger (shorter side about 48 px): pass --img-size N to choose" in out
    )


def test_fine_tuning_grey_weights_on_grey_images_needs_no_choice(tmp_path):
    path, _ = grey_checkpoint(tmp_path)
    rng = np.random.default_rng(0)
    for name in ("ant", "bee"):
        (tmp_path / "scans" / name).mkdir(parents=True)
        for i in range(4):  # grey PNGs (a grey image decoded as RGB has three equal channels)
            Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(
                tmp_path / "scans" / name / f"{i}.png"
            )
    cfg = TrainConfig(data=str(tmp_path / "scans"), weights=str(path), epochs=1, batch_size=4, val_split=0.25)
    result = train(replace(cfg, device="cpu", progress=False, run_dir=str(tmp_path / "run")), verbose=False)
    assert result.model.in_chans == 1


def test_curves_are_drawn_after_the_first_epoch_then_at_most_every_30_s_and_after_the_last(
    tmp_path, monkeypatch
):
    """metrics.csv is written at every epoch's end; curves.png (0.2 s to draw) after epoch 1, then once
    CURVES_EVERY seconds have passed, and after the last epoch."""
    from inceptionkit.train import loop, report

    drawn = []
    monkeypatch.setattr(report, "save_curves", lambda history, path, title="": drawn.append(len(history)))
    clock = iter([0.0, 10.0, 31.0, 40.0, 50.0])  # time.monotonic at each epoch's end
    monkeypatch.setattr(loop, "clock", lambda: next(clock))
    run = tmp_path / "run"
    train(TrainConfig(**{**TINY, "epochs": 5}, run_dir=str(run)), verbose=False)
    assert report.CURVES_EVERY == 30.0
    assert drawn == [1, 3, 5]  # epoch 2: 10 s after the drawing; 3: 31 s; 4: 9 s after that; 5: the last
    assert [int(r["epoch"]) for r in csv.DictReader((run / "metrics.csv").open())] == [1, 2, 3, 4, 5]
