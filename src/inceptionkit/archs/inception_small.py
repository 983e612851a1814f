"""The small Inception of Zhang et al. 2017, "Understanding deep learning requires rethinking
generalization" (appendix, Figure 3: "the small Inception model adapted for CIFAR10"), for
28-32 px images.

Three modules: a conv module (conv, batch norm, ReLU), an inception module of a 1x1 and a 3x3
conv module side by side, and a downsample module of a stride-2 3x3 conv module beside a 3x3/2
max pool. Their Table 1 gives 1,649,402 parameters for 10 classes: that is convolutions without
bias and batch norm with a learned shift only (TensorFlow's ``batch_norm`` default,
``center=True, scale=False``), so the variant uses the ``bn_noscale`` style.
"""

from ..spec import Cat, Conv, NetSpec, Pool, Style


def inception(ch1: int, ch3: int) -> Cat:
    return Cat([Conv(ch1, 1)], [Conv(ch3, 3)])


def downsample(ch3: int) -> Cat:
    return Cat([Conv(ch3, 3, s=2, p="valid")], [Pool("max", 3, s=2)])


FEATURES = (
    ("conv", Conv(96, 3)),  # 28x28x96
    ("inception_1a", inception(32, 32)),  # 28x28x64
    ("inception_1b", inception(32, 48)),  # 28x28x80
    ("downsample_1", downsample(80)),  # 13x13x160
    ("inception_2a", inception(112, 48)),  # 13x13x160
    ("inception_2b", inception(96, 64)),  # 13x13x160
    ("inception_2c", inception(80, 80)),  # 13x13x160
    ("inception_2d", inception(48, 96)),  # 13x13x144
    ("downsample_2", downsample(96)),  # 6x6x240
    ("inception_3a", inception(176, 160)),  # 6x6x336
    ("inception_3b", inception(176, 160)),  # 6x6x336, then global mean pooling and the classifier
)

VARIANTS = {
    "paper": NetSpec(
        "inception_small",
        "paper",
        FEATURES,
        Style(norm="bn_noscale", eps=1e-3),
        default_size=28,
        drop_rate=0.0,
        paper="Zhang et al. 2017, Understanding deep learning requires rethinking generalization",
        notes="Batch norm with shift only (TF batch_norm's default), which gives the paper's "
        "1,649,402 parameters for 10 classes.",
    ),
}
DEFAULT_VARIANT = "paper"

WEIGHT_SETS = ()  # no published weights
