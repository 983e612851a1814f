"""Issue 7, items 4 and 5: the benchmark runs and reports well-formed figures (not how fast: timings
on a shared 2-core machine are not assertions)."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import randomize_batchnorm

import inceptionkit as ik
from inceptionkit.bench import ENGINES, Spread, build_engine, model_macs, time_in_turns, write_sample_photos
from inceptionkit.cli import main
from inceptionkit.export import relative_difference


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("INCEPTIONKIT_CACHE", str(tmp_path / "cache"))


def bench(capsys, *argv: object) -> tuple[int, str, str]:
    code = main(["bench", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_has_one_object_per_engine_and_batch_size(capsys, tmp_path):
    code, out, err = bench(
        capsys,
        "inception_small",
        "--input-size",
        "32",
        "--batch-size",
        "1,3",
        "--runs",
        "3",
        "--warmup",
        "1",
        "--format",
        "json",
    )
    assert code == 0, err
    rows = json.loads(out)
    assert [(r["engine"], r["batch_size"]) for r in rows] == [(e, b) for b in (1, 3) for e in ENGINES]
    macs = model_macs(ik.create_model("inception_small"), 32)
    for r in rows:
        lat = r["latency_ms"]
        assert lat["min"] <= lat["q1"] <= lat["median"] <= lat["q3"] <= lat["max"]
        assert r["images_per_s"] == pytest.approx(1000 * r["batch_size"] / lat["median"])
        assert r["gmacs_per_image"] == macs / 1e9
        assert r["gmacs_per_s"] == pytest.approx(r["gmacs_per_image"] * r["images_per_s"])
        assert r["matmul_gflops"] > 0 and r["matmul_gflops"] == rows[0]["matmul_gflops"]
        assert r["efficiency"] == pytest.approx(2 * r["gmacs_per_s"] / r["matmul_gflops"])
        assert (r["runs"], r["threads"], r["input_size"]) == (3, torch.get_num_threads(), 32)
        assert ("random inputs" in r["note"]) == (r["engine"] == "onnxruntime-int8")
    torch_ms = {r["batch_size"]: r["latency_ms"]["median"] for r in rows if r["engine"] == "torch"}
    for r in rows:
        assert r["speedup_vs_torch"] == pytest.approx(torch_ms[r["batch_size"]] / r["latency_ms"]["median"])
    # the fp32 export and its int8 copy are cached for the next run
    assert len(list((tmp_path / "cache" / "onnx").glob("inception_small-paper-32-*.onnx"))) == 2


def test_table_names_every_engine_and_the_yardstick(capsys):
    code, out, err = bench(
        capsys,
        "inception_small",
        "--input-size",
        "32",
        "--batch-size",
        "2",
        "--engine",
        "torch,torch-opt",
        "--runs",
        "2",
        "--warmup",
        "0",
        "--threads",
        "1",
    )
    assert code == 0, err
    assert "inception_small (paper), 32×32, 0.23 G multiply-adds per image; 1 threads; fp32 matmul" in out
    lines = [line.split() for line in out.splitlines()]
    assert [cells[:2] for cells in lines if cells and cells[0] in ENGINES] == [
        ["torch", "2"],
        ["torch-opt", "2"],
    ]


def test_bad_arguments(capsys):
    code, _, err = bench(capsys, "inception_small", "--engine", "torch,tensorrt")
    assert (
        code == 2
        and "unknown engine tensorrt; valid engines: torch, torch-opt, onnxruntime, onnxruntime-int8" in err
    )
    code, _, err = bench(capsys, "inception_v3", "--input-size", "50", "--engine", "torch")
    assert code == 2 and "needs inputs of at least 75x75; got 50x50" in err
    code, _, err = bench(capsys, "inception_small", "--batch-size", "0")
    assert code == 2 and "expected integers of at least 1" in err


def test_timing_in_turns():
    calls = []
    times = time_in_turns(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, warmup=1, runs=2, settle=0.0
    )
    assert calls == ["a", "b"] * 3
    assert [len(t) for t in times.values()] == [2, 2]
    s = Spread.of([4.0, 1.0, 3.0, 2.0, 5.0])
    assert (s.median, s.q1, s.q3, s.min, s.max) == (3.0, 2.0, 4.0, 1.0, 5.0)


def test_the_engines_timed_compute_the_model(tmp_path):
    torch.manual_seed(0)
    model = randomize_batchnorm(ik.create_model("inception_small", num_classes=10)).eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        want = model(x)
    for engine in ("torch", "torch-opt", "onnxruntime"):
        run = build_engine(engine, model, size=32, threads=2, cache_dir=tmp_path)
        assert relative_difference(run(x), want) <= 1e-4, engine
    int8 = build_engine("onnxruntime-int8", model, size=32, threads=2, cache_dir=tmp_path)
    assert int8(x).shape == want.shape


def test_predict_folder_end_to_end(capsys, tmp_path):
    write_sample_photos(tmp_path / "photos", n=8, size=64)
    code, out, err = bench(
        capsys,
        "inception_small",
        "--predict-folder",
        tmp_path / "photos",
        "--batch-size",
        "4",
        "--runs",
        "1",
        "--format",
        "json",
    )
    assert code == 0, err
    r = json.loads(out)
    assert (r["images"], r["batch_size"], r["passes"]) == (8, 4, 1)
    assert r["ratio"] == pytest.approx(r["end_to_end_images_per_s"] / r["engine_images_per_s"])
    assert r["end_to_end_images_per_s"] == pytest.approx(8 / r["end_to_end_s"]["median"])


def test_training_benchmark(capsys):
    code, out, err = bench(
        capsys,
        "inception_small",
        "--train",
        "--batch-size",
        "4",
        "--runs",
        "1",
        "--input-size",
        "32",
        "--format",
        "json",
    )
    assert code == 0, err
    r = json.loads(out)
    assert (r["model"], r["batch_size"], r["img_size"], r["steps"]) == ("inception_small", 4, 32, 1)
    assert r["speedup"] == pytest.approx(r["ours_img_s"] / r["plain_img_s"])
