"""Inception-ResNet-v2: Szegedy et al. 2016, "Inception-v4, Inception-ResNet and the Impact of
Residual Connections on Learning", as released in TF-slim (and so keras and timm).

The released network differs from the paper's Figures 3, 16-19 in widths (e.g. its stem ends in
the 320-channel ``mixed_5b`` block, not the 384 channels of Figure 3); all public weights follow the
release, and so do we.
"""

from ..spec import Cat, Conv, NetSpec, Pool, Style, inception_resnet
from ..weight_sets import keras_sets, timm_set

avg3 = Pool("avg", 3, p="same")
max3s2 = Pool("max", 3, s=2)


# Inception-ResNet-A (block35), 35x35 grid
BLOCK35 = Cat([Conv(32, 1)], [Conv(32, 1), Conv(32, 3)], [Conv(32, 1), Conv(48, 3), Conv(64, 3)])
# Inception-ResNet-B (block17), 17x17 grid
BLOCK17 = Cat([Conv(192, 1)], [Conv(128, 1), Conv(160, (1, 7)), Conv(192, (7, 1))])
# Inception-ResNet-C (block8), 8x8 grid
BLOCK8 = Cat([Conv(192, 1)], [Conv(192, 1), Conv(224, (1, 3)), Conv(256, (3, 1))])

FEATURES = (
    ("conv_1a", Conv(32, 3, s=2, p="valid")),  # 149x149x32
    ("conv_2a", Conv(32, 3, p="valid")),  # 147x147x32
    ("conv_2b", Conv(64, 3)),  # 147x147x64
    ("pool_3a", max3s2),  # 73x73x64
    ("conv_3b", Conv(80, 1, p="valid")),  # 73x73x80
    ("conv_4a", Conv(192, 3, p="valid")),  # 71x71x192
    ("pool_5a", max3s2),  # 35x35x192
    (
        "mixed_5b",
        Cat(
            [Conv(96, 1)],
            [Conv(48, 1), Conv(64, 5)],
            [Conv(64, 1), Conv(96, 3), Conv(96, 3)],
            [avg3, Conv(64, 1)],
        ),
    ),  # 35x35x320
    *((f"block35_{i}", inception_resnet(BLOCK35, 320, 0.17)) for i in range(1, 11)),  # 10 x
    (
        "mixed_6a",
        Cat(
            [Conv(384, 3, s=2, p="valid")],
            [Conv(256, 1), Conv(256, 3), Conv(384, 3, s=2, p="valid")],
            [max3s2],
        ),
    ),  # 17x17x1088
    *((f"block17_{i}", inception_resnet(BLOCK17, 1088, 0.10)) for i in range(1, 21)),  # 20 x
    (
        "mixed_7a",
        Cat(
            [Conv(256, 1), Conv(384, 3, s=2, p="valid")],
            [Conv(256, 1), Conv(288, 3, s=2, p="valid")],
            [Conv(256, 1), Conv(288, 3), Conv(320, 3, s=2, p="valid")],
            [max3s2],
        ),
    ),  # 8x8x2080
    *((f"block8_{i}", inception_resnet(BLOCK8, 2080, 0.20)) for i in range(1, 10)),  # 9 x
    ("block8_10", inception_resnet(BLOCK8, 2080, 1.0, act=False)),  # the last one: unscaled, no ReLU
    ("conv_7b", Conv(1536, 1)),  # 8x8x1536
)

PAPER = "Szegedy et al. 2016, Inception-v4, Inception-ResNet and the Impact of Residual Connections"

VARIANTS = {
    "timm": NetSpec(
        "inception_resnet_v2",
        "timm",
        FEATURES,
        Style(norm="bn", eps=1e-3),
        default_size=299,
        drop_rate=0.0,
        paper=PAPER,
        notes="timm inception_resnet_v2: BN eps 1e-3 with scale; average pool excludes padding.",
    ),
    "keras": NetSpec(
        "inception_resnet_v2",
        "keras",
        FEATURES,
        Style(norm="bn_noscale", eps=1e-3, momentum=0.01, same="tf"),
        default_size=299,
        drop_rate=0.0,
        paper=PAPER,
        notes="keras.applications.InceptionResNetV2: batch norm without scale (gamma), eps 1e-3.",
    ),
}
DEFAULT_VARIANT = "timm"

# The published weight sets of this architecture (inceptionkit.weight_sets says what each field means).
WEIGHT_SETS = (
    *keras_sets(
        "inception_resnet_v2",
        "InceptionResNetV2",
        "e693bd0210a403b3192acc6073ad2e96",
        "d19885ff4a710c122648d3b5c3b684e4",
    ),
    timm_set("inception_resnet_v2.timm_imagenet", "inception_resnet_v2.tf_in1k", 0.8975),
    timm_set("inception_resnet_v2.timm_ens_adv_imagenet", "inception_resnet_v2.tf_ens_adv_in1k", 0.8975),
)
