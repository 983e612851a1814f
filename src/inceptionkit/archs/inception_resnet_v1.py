"""Inception-ResNet-v1: Szegedy et al. 2016, "Inception-v4, Inception-ResNet and the Impact of
Residual Connections on Learning", Figures 14 (stem), 10, 7, 11, 12, 13 and 15.

Each residual block is ``ReLU(x + scale * (1x1 linear conv of the concatenated branches))``.
"""

from ..spec import Cat, Conv, NetSpec, Pool, Style, inception_resnet

max3s2 = Pool("max", 3, s=2)


# Figure 10: Inception-ResNet-A (35x35 grid)
BLOCK_A = Cat([Conv(32, 1)], [Conv(32, 1), Conv(32, 3)], [Conv(32, 1), Conv(32, 3), Conv(32, 3)])
# Figure 11: Inception-ResNet-B (17x17 grid)
BLOCK_B = Cat([Conv(128, 1)], [Conv(128, 1), Conv(128, (1, 7)), Conv(128, (7, 1))])
# Figure 13: Inception-ResNet-C (8x8 grid)
BLOCK_C = Cat([Conv(192, 1)], [Conv(192, 1), Conv(192, (1, 3)), Conv(192, (3, 1))])

FEATURES = (
    # Figure 14, the stem
    ("conv_1a", Conv(32, 3, s=2, p="valid")),  # 149x149x32
    ("conv_2a", Conv(32, 3, p="valid")),  # 147x147x32
    ("conv_2b", Conv(64, 3)),  # 147x147x64
    ("pool_3a", max3s2),  # 73x73x64
    ("conv_3b", Conv(80, 1)),  # 73x73x80
    ("conv_4a", Conv(192, 3, p="valid")),  # 71x71x192
    ("conv_4b", Conv(256, 3, s=2, p="valid")),  # 35x35x256
    *((f"block_a{i}", inception_resnet(BLOCK_A, 256, 0.17)) for i in range(1, 6)),  # 5 x
    # Figure 7, Reduction-A with k=192, l=192, m=256, n=384 (Table 1)
    (
        "reduction_a",
        Cat(
            [Conv(384, 3, s=2, p="valid")],
            [Conv(192, 1), Conv(192, 3), Conv(256, 3, s=2, p="valid")],
            [max3s2],
        ),
    ),  # 17x17x896
    *((f"block_b{i}", inception_resnet(BLOCK_B, 896, 0.10)) for i in range(1, 11)),  # 10 x
    # Figure 12, Reduction-B
    (
        "reduction_b",
        Cat(
            [Conv(256, 1), Conv(384, 3, s=2, p="valid")],
            [Conv(256, 1), Conv(256, 3, s=2, p="valid")],
            [Conv(256, 1), Conv(256, 3), Conv(256, 3, s=2, p="valid")],
            [max3s2],
        ),
    ),  # 8x8x1792
    *((f"block_c{i}", inception_resnet(BLOCK_C, 1792, 0.20)) for i in range(1, 6)),  # 5 x
)

VARIANTS = {
    "paper": NetSpec(
        "inception_resnet_v1",
        "paper",
        FEATURES,
        Style(norm="bn", eps=1e-3),
        default_size=299,
        drop_rate=0.2,
        paper="Szegedy et al. 2016, Inception-v4, Inception-ResNet and the Impact of Residual Connections",
        notes="The paper scales residuals by 0.1-0.3 without giving each stage's factor; we take "
        "TF-slim's 0.17 / 0.10 / 0.20 (A / B / C). Batch norm (eps 1e-3) on the convolutions, "
        "not on the sums (Section 3.3); the 1x1 'Linear' convolutions have a bias and no norm. "
        "Dropout keep 0.8 (Figure 15).",
    ),
}
DEFAULT_VARIANT = "paper"

WEIGHT_SETS = ()  # no published weights
