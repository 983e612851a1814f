"""Issue 10, the weights' items: bad tensors (5), other input channels (7), concurrent and failed
downloads (8), a .keras zip bomb (14), crafted metadata (15), and from 18: re-verified cache, file
permissions, bad arguments and inputs to the API."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import replace

import pytest
import torch
from helpers import save_small, small_model
from safetensors import safe_open
from safetensors.torch import save_file

import inceptionkit as ik
from inceptionkit.cli import main
from inceptionkit.errors import InputError, UsageError, WeightsError
from inceptionkit.registry import get_weight_set, register_weight_set
from inceptionkit.weights import load_native, read_native_metadata
from inceptionkit.weights.channels import adapt_input_conv as ours_adapt
from inceptionkit.weights.hub import cached_path, download


def one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


# -- item 5: non-finite or non-float tensors -----------------------------------------------------


def test_all_finite_sees_every_nan_and_infinity_and_passes_a_sum_that_overflows():
    from inceptionkit.weights.formats import all_finite

    big = torch.full((8,), 60000.0, dtype=torch.float16)  # finite values whose float16 sum is infinite
    assert torch.isinf(big.sum()) and all_finite(big)
    for bad in (float("nan"), float("inf"), float("-inf")):
        t = torch.randn(100)
        t[37] = bad
        assert not all_finite(t) and not all_finite(t.half()) and not all_finite(t.double())
    both = torch.tensor([float("inf"), float("-inf"), 1.0])  # their sum is NaN
    assert not all_finite(both) and all_finite(torch.randn(3, 3))


@pytest.mark.parametrize(
    "value, why",
    [
        (float("nan"), "non-finite"),
        (float("inf"), "non-finite"),
        (torch.int32, "int32"),
        (torch.complex64, "complex64"),
    ],
)
def test_bad_tensors_are_refused_naming_the_tensor(tmp_path, value, why, capsys):
    state = small_model().state_dict()
    key = next(k for k, t in state.items() if t.dim() == 4)  # the first convolution's weight
    if isinstance(value, float):
        state[key] = state[key].clone()
        state[key][0, 0, 0, 0] = value
    else:
        state[key] = state[key].to(value)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError) as e:
        ik.create_model("inception_small", weights=path)
    assert key in one_line(e) and why in str(e.value)
    assert (
        main(["convert", str(path), "--model", "inception_small", "-o", str(tmp_path / "o.safetensors")]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert key in err and "\n" not in err
    # an inceptionkit file, read directly (training runs, eval)
    native = save_small(tmp_path / "m.safetensors")
    with safe_open(str(native), "pt") as f:
        md, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    tensors[key] = state[key]
    save_file(tensors, str(native), metadata=md)
    with pytest.raises(WeightsError, match=key):
        load_native(native)


# -- item 7: in_chans other than the file's ------------------------------------------------------


@pytest.mark.parametrize("chans", [1, 2, 4, 7])
def test_in_chans_adapts_the_first_convolution_as_timm(tmp_path, chans):
    from timm.models._manipulate import adapt_input_conv

    state = small_model().state_dict()
    key = next(k for k, t in state.items() if t.dim() == 4)
    torch.save(state, tmp_path / "s.pth")
    model = ik.create_model("inception_small", weights=tmp_path / "s.pth", in_chans=chans)
    assert model.in_chans == chans
    assert torch.equal(model.state_dict()[key], adapt_input_conv(chans, state[key]))
    assert torch.equal(ours_adapt(chans, state[key]), adapt_input_conv(chans, state[key]))
    model(torch.randn(1, chans, 28, 28))  # runs
    # an inceptionkit file follows the same rule; a grey model gets a grey recipe
    native = save_small(tmp_path / "m.safetensors")
    grey = ik.create_model("inception_small", weights=native, in_chans=chans)
    assert torch.equal(grey.state_dict()[key], adapt_input_conv(chans, load_native(native).state_dict()[key]))
    if chans == 1:
        assert grey.weight_meta.preprocess.channels == 1 and len(grey.weight_meta.preprocess.mean) == 1
    # the command line: convert --in-chans writes the adapted model, its metadata says so
    out = tmp_path / "adapted.safetensors"
    assert (
        main(["convert", str(native), "--model", "inception_small", "--in-chans", str(chans), "-o", str(out)])
        == 0
    )
    assert torch.equal(load_native(out).state_dict()[key], grey.state_dict()[key])


def test_in_chans_of_a_one_channel_file_grows_by_the_same_rule(tmp_path):
    path = save_small(tmp_path / "grey.safetensors", channels=1)
    grey = ik.create_model("inception_small", weights=path).eval()
    colour = ik.create_model("inception_small", weights=path, in_chans=3).eval()
    assert colour.in_chans == 3
    # a grey image given as R = G = B gets the grey model's answer
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(colour(x.expand(-1, 3, -1, -1)), grey(x), rtol=1e-5, atol=1e-6)
    assert grey.in_chans == 1  # its own count, no adaptation


# -- item 8: downloads -------------------------------------------------------------------------


class _Server:
    """127.0.0.1 HTTP: serves ``good`` bytes; the first ``bad_first`` requests get slow, wrong bytes."""

    def __init__(self, good: bytes, bad_first: int = 0, delay: float = 0.0) -> None:
        self.good, self.bad_left, self.delay, self.count = good, bad_first, delay, 0
        lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                with lock:
                    outer.count += 1
                    bad = outer.bad_left > 0
                    outer.bad_left -= bad
                body = outer.good[::-1] if bad else outer.good
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                half = len(body) // 2
                self.wfile.write(body[:half])
                time.sleep(outer.delay if bad else 0.05)
                self.wfile.write(body[half:])

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/w.pth"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def served(weights_cache, tmp_path):
    torch.save(small_model().state_dict(), tmp_path / "w.pth")
    good = (tmp_path / "w.pth").read_bytes()
    servers = []

    def make(bad_first: int = 0, delay: float = 0.0):
        s = _Server(good, bad_first, delay)
        servers.append(s)
        ws = replace(
            get_weight_set("googlenet.tv_imagenet"),
            tag="inception_small.test",
            url=s.url,
            checksum="sha256:" + hashlib.sha256(good).hexdigest(),
        )
        register_weight_set(ws)
        return ws, s

    yield make, good
    for s in servers:
        s.close()


def test_a_failed_download_keeps_another_finished_one(served):
    make, good = served
    ws, server = make(bad_first=1, delay=1.5)  # the first request is slow and corrupt
    errors = []

    def slow_and_bad():
        try:
            download(ws)
        except WeightsError as e:
            errors.append(str(e))

    t = threading.Thread(target=slow_and_bad)
    t.start()
    while server.count < 1:
        time.sleep(0.01)
    assert download(ws).read_bytes() == good  # the second download finishes first
    t.join()
    assert len(errors) == 1 and "checksum mismatch" in errors[0]
    dest = cached_path(ws)
    assert dest.read_bytes() == good  # the failure removed only its own temporary file
    assert [p.name for p in dest.parent.iterdir()] == [dest.name]


DOWNLOAD_IN_A_PROCESS = """
import sys, json
from dataclasses import replace
from inceptionkit.registry import get_weight_set, register_weight_set
from inceptionkit.weights.hub import download
ws = replace(get_weight_set("googlenet.tv_imagenet"), tag="inception_small.test", url=sys.argv[1], checksum=sys.argv[2])
register_weight_set(ws)
print(download(ws))
"""


@pytest.mark.subprocess
def test_concurrent_downloads_by_threads_and_processes_end_with_one_verified_file(served):
    make, good = served
    ws, server = make()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", DOWNLOAD_IN_A_PROCESS, ws.url, ws.checksum],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = []
    threads = [threading.Thread(target=lambda: results.append(download(ws))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    dest = cached_path(ws)
    assert set(map(str, results)) | set(outs) == {str(dest)}
    assert dest.read_bytes() == good
    assert [p.name for p in dest.parent.iterdir()] == [dest.name]  # no temporary file left
    assert server.count >= 1


def test_a_truncated_cached_file_is_fetched_again(served, caplog):
    make, good = served
    ws, server = make()
    dest = download(ws)
    dest.write_bytes(good[: len(good) // 2])  # a disk problem, a killed copy
    assert download(ws).read_bytes() == good
    assert server.count == 2 and "fails its check" in caplog.text
    assert download(ws) == dest and server.count == 2  # a whole file is reused


def test_an_unchecked_safetensors_file_is_checked_for_truncation(weights_cache, tmp_path):
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in small_model().state_dict().items()}, str(path))
    ws = replace(get_weight_set("inception_v4.timm_imagenet"), tag="inception_small.hub", url=path.as_uri())
    assert ws.checksum is None
    register_weight_set(ws)
    dest = download(ws)
    whole = dest.read_bytes()
    dest.write_bytes(whole[:-10])
    assert download(ws).read_bytes() == whole


# -- item 14: a .keras zip bomb ------------------------------------------------------------------


def _patch_sizes(path, size: int) -> None:
    """Make every header of the zip at ``path`` declare ``size`` uncompressed bytes."""
    data = bytearray(path.read_bytes())
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        i = data.find(sig)
        data[i + offset : i + offset + 4] = size.to_bytes(4, "little")
    path.write_bytes(bytes(data))


def test_keras_zip_bomb_is_refused_before_reading(tmp_path, capsys):
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n" + bytes(1000))
    _patch_sizes(bomb, 0xFFFFFFF0)  # declares 4 GB
    with pytest.raises(WeightsError) as e:
        ik.create_model("xception", weights=bomb)
    assert "4,294,967,280 bytes" in one_line(e) and "refused" in str(e.value)
    ratio = tmp_path / "ratio.keras"
    with zipfile.ZipFile(ratio, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("model.weights.h5", bytes(20_000_000))  # 20 MB of zeros: about 20 kB stored
    with pytest.raises(WeightsError, match="20,000,000 bytes"):
        ik.create_model("xception", weights=ratio)
    assert main(["convert", str(bomb), "--model", "xception", "-o", str(tmp_path / "o.safetensors")]) == 2


# -- item 15: crafted metadata -------------------------------------------------------------------


def _rewrite(path, **changes: str) -> None:
    with safe_open(str(path), "pt") as f:
        md, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    md.update(changes)
    save_file(tensors, str(path), metadata=md)


def _preprocess(path, **changes) -> str:
    d = json.loads(read_native_metadata(path)["preprocess"])
    d.update(changes)
    return json.dumps(d)


CRAFTED = {
    "crop_pct 0": (lambda p: {"preprocess": _preprocess(p, crop_pct=0)}, "'preprocess': crop_pct"),
    "unknown key": (lambda p: {"preprocess": _preprocess(p, colour="red")}, "unknown key 'colour'"),
    "size 200000": (
        lambda p: {"preprocess": _preprocess(p, size=200000)},
        "size: expected an integer in 1..4096",
    ),
    "std 0": (lambda p: {"preprocess": _preprocess(p, std=[0, 0, 0])}, "std"),
    "preprocess not JSON": (lambda p: {"preprocess": "{"}, "'preprocess': not valid JSON"),
    "classes an object": (lambda p: {"classes": '{"a": 1}'}, "'classes': expected a JSON list"),
    "classes numbers": (
        lambda p: {"classes": json.dumps(list(range(10)))},
        "'classes': expected a JSON list",
    ),
    "classes too few": (lambda p: {"classes": '["a"]'}, "1 names for 10 classes"),
    "num_classes wrong": (
        lambda p: {"num_classes": "5", "classes": "null"},
        "'num_classes' says 5, the tensors have 10",
    ),
    "num_classes huge": (lambda p: {"num_classes": "10000000000"}, "'num_classes': 10000000000 is outside"),
    "num_classes text": (lambda p: {"num_classes": "ten"}, "'num_classes': expected an integer"),
    "in_chans wrong": (lambda p: {"in_chans": "1"}, "'in_chans' says 1, the tensors take 3"),
    "arch unknown": (lambda p: {"arch": "resnet"}, "'arch': unknown model"),
    "variant unknown": (lambda p: {"variant": "nope"}, "'variant': inception_small has no variant"),
    "aux_logits odd": (lambda p: {"aux_logits": "maybe"}, "'aux_logits': expected one of true, false"),
}


@pytest.mark.parametrize("case", list(CRAFTED))
def test_crafted_metadata_is_one_line_naming_the_field(tmp_path, case, capsys):
    change, expected = CRAFTED[case]
    path = save_small(tmp_path / "m.safetensors")
    _rewrite(path, **change(path))
    with pytest.raises(WeightsError) as e:
        load_native(path)
    assert expected in one_line(e) and str(path) in str(e.value)
    with pytest.raises(WeightsError, match="metadata field"):
        ik.create_model("inception_small", weights=path)
    assert (
        main(["convert", str(path), "--model", "inception_small", "-o", str(tmp_path / "o.safetensors")]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert "metadata field" in err and "\n" not in err


# -- from 18 -------------------------------------------------------------------------------------


def test_safetensors_written_with_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = save_small(tmp_path / "m.safetensors")
        assert (
            main(["convert", str(path), "--model", "inception_small", "-o", str(tmp_path / "c.safetensors")])
            == 0
        )
    finally:
        os.umask(old)
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)
    assert oct((tmp_path / "c.safetensors").stat().st_mode & 0o777) == oct(0o644)


def test_bad_arguments_and_inputs_to_the_api_are_one_line():
    with pytest.raises(UsageError) as e:
        ik.create_model("inception_small", num_classes=-1)
    assert "num_classes must be an integer of at least 0" in one_line(e)
    with pytest.raises(UsageError, match="in_chans"):
        ik.create_model("inception_small", in_chans=0)
    model = small_model()
    for dtype in (torch.float64, torch.uint8):
        with pytest.raises(InputError) as e:
            model(torch.zeros(1, 3, 28, 28, dtype=dtype))
        assert f"takes float32 input (its weights' type); got {str(dtype)[6:]}" in one_line(e)
    with pytest.raises(InputError, match="not a tensor"):
        model([[1.0]])
