"""Xception: Chollet 2016, "Xception: Deep Learning with Depthwise Separable Convolutions",
Figure 5 (entry flow, middle flow repeated 8 times, exit flow).

Each block is a residual: pre-activated separable convolutions (ReLU, SeparableConv, BN) beside a
1x1/2 convolution shortcut (or the identity in the middle flow).
"""

from ..spec import Act, Conv, NetSpec, Pool, Residual, SepConv, Style
from ..weight_sets import keras_sets, timm_set

pool = Pool("max", 3, s=2, p="same")


def entry(width: int, first_relu: bool = True, mid: int | None = None) -> Residual:
    """Entry/exit-flow block: [ReLU], SepConv, ReLU, SepConv, 3x3/2 max pool; 1x1/2 conv shortcut."""
    body = ((Act(),) if first_relu else ()) + (SepConv(mid or width), Act(), SepConv(width), pool)
    return Residual(body, shortcut=(Conv(width, 1, s=2, act=False),), act=False)


MIDDLE = Residual((Act(), SepConv(728), Act(), SepConv(728), Act(), SepConv(728)), act=False)

FEATURES = (
    # entry flow
    ("block1_conv1", Conv(32, 3, s=2, p="valid")),  # 149x149x32
    ("block1_conv2", Conv(64, 3, p="valid")),  # 147x147x64
    ("block2", entry(128, first_relu=False)),  # 74x74x128
    ("block3", entry(256)),  # 37x37x256
    ("block4", entry(728)),  # 19x19x728
    # middle flow, 8 times
    *((f"block{i}", MIDDLE) for i in range(5, 13)),  # 19x19x728
    # exit flow
    ("block13", entry(1024, mid=728)),  # 10x10x1024
    ("block14_sepconv1", SepConv(1536, act=True)),
    ("block14_sepconv2", SepConv(2048, act=True)),  # 10x10x2048
)

PAPER = "Chollet 2016, Xception: Deep Learning with Depthwise Separable Convolutions"

VARIANTS = {
    "keras": NetSpec(
        "xception",
        "keras",
        FEATURES,
        Style(norm="bn", eps=1e-3, momentum=0.01, same="tf"),
        default_size=299,
        drop_rate=0.0,
        paper=PAPER,
        notes="keras.applications.Xception: BN eps 1e-3; 'same' max pooling pads TensorFlow's way "
        "(at 74x74 the odd pixel is padded at the bottom/right only).",
    ),
    "timm": NetSpec(
        "xception",
        "timm",
        FEATURES,
        Style(norm="bn", eps=1e-5, same="symmetric"),
        default_size=299,
        drop_rate=0.0,
        paper=PAPER,
        notes="timm legacy_xception (Cadene's port of the keras weights): same parameters as keras, "
        "but BN eps 1e-5 and max pools padded by 1 on every side.",
    ),
}
DEFAULT_VARIANT = "keras"

# The published weight sets of this architecture (inceptionkit.weight_sets says what each field means).
WEIGHT_SETS = (
    *keras_sets(
        "xception", "Xception", "0a58e3b7378bc2990ea3b43d5981f1f6", "b0042744bf5b25fce3cb969f33bebb97"
    ),
    timm_set(
        "xception.timm_imagenet",
        "legacy_xception.tf_in1k",
        0.8975,
        url="https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-cadene/xception-43020ad28.pth",
    ),
)
