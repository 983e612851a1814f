"""Relative error of each engine vs eager fp32 on scikit-image's sample photographs, inception_v3 (random weights,
batch-norm statistics measured on the photos), logits and pooled features (the README's table).

Run: ``python docs/engine_error_on_photos.py CACHE_DIR`` (CACHE_DIR: where the exports go)."""

import sys

import skimage.data as d
import torch
from PIL import Image

import inceptionkit as ik
from inceptionkit.engines import (
    Calibration,
    Task,
    build_engine,
    default_preprocess,
    relative_difference,
    runnable_engines,
)

torch.manual_seed(0)
names = [
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "cat",
    "colorwheel",
]
photos = [Image.fromarray(getattr(d, n)()).convert("RGB") for n in names]
model = ik.create_model("inception_v3")
recipe = default_preprocess(model.spec)
x = torch.stack([recipe.transform()(p) for p in photos])
for m in model.modules():
    if isinstance(m, torch.nn.BatchNorm2d):
        m.momentum = None
with torch.no_grad():
    model.train()(x)
model.eval()
cal = Calibration(lambda: [x], "photos", " of the sample photos")
cache = sys.argv[1]
for task, label in ((Task(), "logits"), (Task(True), "features")):
    ref = build_engine("torch", model, task=task)(x)
    for e in runnable_engines():
        if e == "torch":
            continue
        eng = build_engine(e, model, task=task, size=299, cache_dir=cache, calibration=cal)
        out = eng(x)
        extra = ""
        if label == "logits":
            extra = f" top1 agree {int((out.argmax(1) == ref.argmax(1)).sum())}/{len(x)}"
        print(f"{label} {e} {eng.precision} rel {relative_difference(out, ref):.2e}{extra}", flush=True)
