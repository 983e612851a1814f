"""GoogLeNet (Inception-v1): Szegedy et al. 2014, "Going deeper with convolutions", Table 1.

Each inception row reads like the table's columns:
``#1x1, (#3x3 reduce, #3x3), (#5x5 reduce, #5x5), pool proj``.
"""

from ..spec import LRN, AdaptivePool, Aux, Cat, Conv, NetSpec, Pool, Style
from ..weight_sets import torchvision_set


def inception(c1: int, c3: tuple[int, int], c5: tuple[int, int], proj: int, k5: int = 5) -> Cat:
    """Figure 2(b): 1x1, 3x3 and 5x5 convolutions and 3x3 max pooling, each behind a 1x1 bottleneck."""
    return Cat(
        [Conv(c1, 1)],
        [Conv(c3[0], 1), Conv(c3[1], 3)],
        [Conv(c5[0], 1), Conv(c5[1], k5)],
        [Pool("max", 3, p=1, ceil=True), Conv(proj, 1)],
    )


# fmt: off
#            name            #1x1   #3x3red, #3x3   #5x5red, #5x5   pool proj
TABLE_1 = {
    "inception_3a": (64,  (96, 128),  (16, 32),  32),
    "inception_3b": (128, (128, 192), (32, 96),  64),
    "inception_4a": (192, (96, 208),  (16, 48),  64),
    "inception_4b": (160, (112, 224), (24, 64),  64),
    "inception_4c": (128, (128, 256), (24, 64),  64),
    "inception_4d": (112, (144, 288), (32, 64),  64),
    "inception_4e": (256, (160, 320), (32, 128), 128),
    "inception_5a": (256, (160, 320), (32, 128), 128),
    "inception_5b": (384, (192, 384), (48, 128), 128),
}
# fmt: on


def features(k5: int, lrn: bool, last_pool: int) -> tuple:
    pool = Pool("max", 3, s=2, ceil=True)  # Caffe rounds pooling outputs up
    blocks = {name: inception(*row, k5=k5) for name, row in TABLE_1.items()}
    return tuple(
        (name, op)
        for name, op in (
            ("conv1", Conv(64, 7, s=2)),  # 112x112x64
            ("pool1", pool),  # 56x56x64
            ("lrn1", LRN() if lrn else None),
            ("conv2", Conv(64, 1)),  # the 3x3's reduce
            ("conv3", Conv(192, 3)),  # 56x56x192
            ("lrn2", LRN() if lrn else None),
            ("pool2", pool),  # 28x28x192
            ("inception_3a", blocks["inception_3a"]),  # 28x28x256
            ("inception_3b", blocks["inception_3b"]),  # 28x28x480
            ("pool3", pool),  # 14x14x480
            *(
                (n, blocks[n])
                for n in ("inception_4a", "inception_4b", "inception_4c", "inception_4d", "inception_4e")
            ),  # 14x14x832
            ("pool4", Pool("max", last_pool, s=2, ceil=True)),  # 7x7x832
            ("inception_5a", blocks["inception_5a"]),
            ("inception_5b", blocks["inception_5b"]),  # 7x7x1024
        )
        if op is not None
    )


PAPER = "Szegedy et al. 2014, Going deeper with convolutions"

# Figure 3's side classifiers: 5x5/3 average pool, 1x1 conv 128, FC 1024, 70% dropout, classifier;
# their losses are added with weight 0.3.
PAPER_AUX = tuple(
    Aux(
        name,
        after=after,
        ops=(Pool("avg", 5, s=3), Conv(128, 1)),
        hidden=(1024,),
        dropout=0.7,
        loss_weight=0.3,
    )
    for name, after in (("aux1", "inception_4a"), ("aux2", "inception_4d"))
)
# torchvision pools adaptively to 4x4 instead (the same at 224x224).
TV_AUX = tuple(
    a.__class__(a.name, a.after, (AdaptivePool(4), Conv(128, 1)), a.hidden, a.dropout, a.loss_weight)
    for a in PAPER_AUX
)

VARIANTS = {
    "paper": NetSpec(
        "googlenet",
        "paper",
        features(k5=5, lrn=True, last_pool=3),
        Style(norm=None),
        default_size=224,
        drop_rate=0.4,
        aux=PAPER_AUX,
        paper=PAPER,
        notes="Table 1 as printed: convolutions with bias and no batch norm, LRN after the first "
        "pool and after conv3, 5x5 convolutions, 40% dropout.",
    ),
    "torchvision": NetSpec(
        "googlenet",
        "torchvision",
        features(k5=3, lrn=False, last_pool=2),
        Style(norm="bn", eps=1e-3),
        default_size=224,
        drop_rate=0.2,
        aux=TV_AUX,
        paper=PAPER,
        notes="torchvision.models.googlenet: batch norm (eps 1e-3) instead of LRN and biases; the "
        "'5x5' branch is a 3x3 convolution (kept by torchvision to match its weights); the "
        "last max pool is 2x2/2; dropout 0.2; auxiliary heads pool adaptively to 4x4.",
    ),
}
DEFAULT_VARIANT = "torchvision"

# The published weight sets of this architecture (inceptionkit.weight_sets says what each field means).
WEIGHT_SETS = (
    torchvision_set(
        "googlenet",
        "https://download.pytorch.org/models/googlenet-1378be20.pth",
        "GoogLeNet_Weights",
        224,
        256,
    ),
)
