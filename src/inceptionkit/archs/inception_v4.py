"""Inception-v4: Szegedy et al. 2016, "Inception-v4, Inception-ResNet and the Impact of Residual
Connections on Learning", Figures 3-9. ``V`` in the figures is ``p="valid"``."""

from ..spec import Cat, Conv, NetSpec, Pool, Style
from ..weight_sets import timm_set

avg3 = Pool("avg", 3, p="same")
max3s2 = Pool("max", 3, s=2)

# Figure 3, the stem (shared with Inception-ResNet-v2)
STEM = (
    ("conv_1a", Conv(32, 3, s=2, p="valid")),  # 149x149x32
    ("conv_2a", Conv(32, 3, p="valid")),  # 147x147x32
    ("conv_2b", Conv(64, 3)),  # 147x147x64
    ("mixed_3a", Cat([max3s2], [Conv(96, 3, s=2, p="valid")])),  # 73x73x160
    (
        "mixed_4a",
        Cat(
            [Conv(64, 1), Conv(96, 3, p="valid")],
            [Conv(64, 1), Conv(64, (1, 7)), Conv(64, (7, 1)), Conv(96, 3, p="valid")],
        ),
    ),
    ("mixed_5a", Cat([Conv(192, 3, s=2, p="valid")], [max3s2])),  # 35x35x384
)

# Figure 4: Inception-A, for the 35x35 grid
INCEPTION_A = Cat(
    [Conv(96, 1)],
    [Conv(64, 1), Conv(96, 3)],
    [Conv(64, 1), Conv(96, 3), Conv(96, 3)],
    [avg3, Conv(96, 1)],
)

# Figure 7: Reduction-A with k=192, l=224, m=256, n=384 (Table 1)
REDUCTION_A = Cat(
    [Conv(384, 3, s=2, p="valid")], [Conv(192, 1), Conv(224, 3), Conv(256, 3, s=2, p="valid")], [max3s2]
)

# Figure 5: Inception-B, for the 17x17 grid
INCEPTION_B = Cat(
    [Conv(384, 1)],
    [Conv(192, 1), Conv(224, (1, 7)), Conv(256, (7, 1))],
    [Conv(192, 1), Conv(192, (7, 1)), Conv(224, (1, 7)), Conv(224, (7, 1)), Conv(256, (1, 7))],
    [avg3, Conv(128, 1)],
)

# Figure 8: Reduction-B
REDUCTION_B = Cat(
    [Conv(192, 1), Conv(192, 3, s=2, p="valid")],
    [Conv(256, 1), Conv(256, (1, 7)), Conv(320, (7, 1)), Conv(320, 3, s=2, p="valid")],
    [max3s2],
)

# Figure 6: Inception-C, for the 8x8 grid
INCEPTION_C = Cat(
    [Conv(256, 1)],
    [Conv(384, 1), Cat([Conv(256, (1, 3))], [Conv(256, (3, 1))])],
    [Conv(384, 1), Conv(448, (3, 1)), Conv(512, (1, 3)), Cat([Conv(256, (1, 3))], [Conv(256, (3, 1))])],
    [avg3, Conv(256, 1)],
)

FEATURES = (
    *STEM,
    *((f"inception_a{i}", INCEPTION_A) for i in range(1, 5)),  # 4 x, 35x35x384
    ("reduction_a", REDUCTION_A),  # 17x17x1024
    *((f"inception_b{i}", INCEPTION_B) for i in range(1, 8)),  # 7 x, 17x17x1024
    ("reduction_b", REDUCTION_B),  # 8x8x1536
    *((f"inception_c{i}", INCEPTION_C) for i in range(1, 4)),  # 3 x, 8x8x1536
)

VARIANTS = {
    "timm": NetSpec(
        "inception_v4",
        "timm",
        FEATURES,
        Style(norm="bn", eps=1e-3),
        default_size=299,
        drop_rate=0.0,
        paper="Szegedy et al. 2016, Inception-v4, Inception-ResNet and the Impact of Residual Connections",
        notes="timm inception_v4 (ported from TF-slim): BN eps 1e-3 with scale; average pools "
        "exclude padding; the paper's 20% dropout is left to the user (timm's default is 0).",
    ),
}
VARIANTS["paper"] = VARIANTS["timm"].with_(
    variant="paper", drop_rate=0.2, notes="As timm, with the paper's dropout (keep 0.8)."
)
DEFAULT_VARIANT = "timm"

# The published weight sets of this architecture (inceptionkit.weight_sets says what each field means).
WEIGHT_SETS = (timm_set("inception_v4.timm_imagenet", "inception_v4.tf_in1k", 0.875),)
