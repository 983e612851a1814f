"""BN-Inception (Inception-v2): Ioffe & Szegedy 2015, "Batch Normalization: Accelerating Deep Network
Training by Reducing Internal Covariate Shift", Figure 5 (the appendix table).

Rows read like the table's columns:
``#1x1, (#3x3 reduce, #3x3), (double #3x3 reduce, double #3x3), pool, pool proj``.
The 5x5 convolutions of GoogLeNet are replaced by two 3x3 ones; inception (3c) and (4e) reduce
the grid with stride 2 and pass the pooled input through.
"""

from ..spec import Cat, Conv, NetSpec, Pool, Style


def inception(c1: int, c3: tuple[int, int], d3: tuple[int, int], pool: str, proj: int) -> Cat:
    return Cat(
        [Conv(c1, 1)],
        [Conv(c3[0], 1), Conv(c3[1], 3)],
        [Conv(d3[0], 1), Conv(d3[1], 3), Conv(d3[1], 3)],
        [Pool(pool, 3, p=1), Conv(proj, 1)],
    )


def reduction(c3: tuple[int, int], d3: tuple[int, int]) -> Cat:
    """Stride 2, no 1x1 branch, max pool with pass-through.

    Convolutions and pool are all padded by 1 so the branches agree at every input size (a
    ceil-mode unpadded pool, as in the Caffe model, agrees with them only for even sizes).
    """
    return Cat(
        [Conv(c3[0], 1), Conv(c3[1], 3, s=2, p=1)],
        [Conv(d3[0], 1), Conv(d3[1], 3), Conv(d3[1], 3, s=2, p=1)],
        [Pool("max", 3, s=2, p=1)],
    )


pool = Pool("max", 3, s=2, ceil=True)

# fmt: off
FEATURES = (
    ("conv1", Conv(64, 7, s=2)),  # 112x112x64
    ("pool1", pool),  # 56x56x64
    ("conv2_reduce", Conv(64, 1)),
    ("conv2", Conv(192, 3)),  # 56x56x192
    ("pool2", pool),  # 28x28x192
    #                           #1x1  #3x3red,#3x3  dbl red,dbl   pool  proj
    ("inception_3a", inception(64,  (64, 64),   (64, 96),   "avg", 32)),  # 28x28x256
    ("inception_3b", inception(64,  (64, 96),   (64, 96),   "avg", 64)),  # 28x28x320
    ("inception_3c", reduction(     (128, 160), (64, 96))),               # 14x14x576
    ("inception_4a", inception(224, (64, 96),   (96, 128),  "avg", 128)),  # 14x14x576
    ("inception_4b", inception(192, (96, 128),  (96, 128),  "avg", 128)),  # 14x14x576
    ("inception_4c", inception(160, (128, 160), (128, 160), "avg", 128)),  # 14x14x608
    ("inception_4d", inception(96,  (128, 192), (160, 192), "avg", 128)),  # 14x14x608
    ("inception_4e", reduction(     (128, 192), (192, 256))),              # 7x7x1056
    ("inception_5a", inception(352, (192, 320), (160, 224), "avg", 128)),  # 7x7x1024
    ("inception_5b", inception(352, (192, 320), (192, 224), "max", 128)),  # 7x7x1024
)
# fmt: on

VARIANTS = {
    "paper": NetSpec(
        "bn_inception",
        "paper",
        FEATURES,
        Style(norm="bn", eps=1e-5),
        default_size=224,
        drop_rate=0.0,
        paper="Ioffe & Szegedy 2015, Batch Normalization (Figure 5)",
        notes="The table's filter columns, taken as printed. Its depth column says 576 for (4c) and "
        "(4d) and 1024 for (4e), but the columns add up to 608, 608 and 1056 (as in the "
        "released Caffe model); the columns win. Convolutions have no bias (batch norm's shift "
        "replaces it, Section 3); dropout removed (Section 4.2.1); pooling rounds up (Caffe).",
    ),
}
DEFAULT_VARIANT = "paper"

WEIGHT_SETS = ()  # no published weights
