"""Inception-v3: Szegedy et al. 2015, "Rethinking the Inception Architecture for Computer Vision".

The grid sizes and filter numbers are those of the released TF-slim model (Table 1 of the paper
gives the stages; the module figures 5, 6, 7 and 10 give the branches), which keras, torchvision
and timm all reproduce.
"""

from ..spec import AdaptivePool, Aux, Cat, Conv, NetSpec, Pool, Style
from ..weight_sets import IMAGENET_MEAN, IMAGENET_STD, fid_set, keras_sets, timm_set, torchvision_set

avg3 = Pool("avg", 3, p="same")
max3s2 = Pool("max", 3, s=2)


def block_a(pool_proj: int) -> Cat:
    """35x35 module, Figure 5: the 5x5 branch factorised into 3x3 + 3x3 (the 5x5 one kept too)."""
    return Cat(
        [Conv(64, 1)],
        [Conv(48, 1), Conv(64, 5)],
        [Conv(64, 1), Conv(96, 3), Conv(96, 3)],
        [avg3, Conv(pool_proj, 1)],
    )


def block_c(c7: int) -> Cat:
    """17x17 module, Figure 6: n x n factorised into 1 x n and n x 1, with n = 7."""
    return Cat(
        [Conv(192, 1)],
        [Conv(c7, 1), Conv(c7, (1, 7)), Conv(192, (7, 1))],
        [Conv(c7, 1), Conv(c7, (7, 1)), Conv(c7, (1, 7)), Conv(c7, (7, 1)), Conv(192, (1, 7))],
        [avg3, Conv(192, 1)],
    )


def block_e(pool: Pool = avg3) -> Cat:
    """8x8 module, Figure 7: expanded filter banks, 1x3 and 3x1 side by side."""
    return Cat(
        [Conv(320, 1)],
        [Conv(384, 1), Cat([Conv(384, (1, 3))], [Conv(384, (3, 1))])],
        [Conv(448, 1), Conv(384, 3), Cat([Conv(384, (1, 3))], [Conv(384, (3, 1))])],
        [pool, Conv(192, 1)],
    )


FEATURES = (
    # stem (Table 1): conv, conv, conv padded, pool, conv, conv, pool
    ("conv_1a", Conv(32, 3, s=2, p="valid")),  # 149x149x32
    ("conv_2a", Conv(32, 3, p="valid")),  # 147x147x32
    ("conv_2b", Conv(64, 3)),  # 147x147x64
    ("pool_1", max3s2),  # 73x73x64
    ("conv_3b", Conv(80, 1, p="valid")),  # 73x73x80
    ("conv_4a", Conv(192, 3, p="valid")),  # 71x71x192
    ("pool_2", max3s2),  # 35x35x192
    ("mixed_5b", block_a(32)),  # 35x35x256
    ("mixed_5c", block_a(64)),  # 35x35x288
    ("mixed_5d", block_a(64)),  # 35x35x288
    # grid reduction, Figure 10: stride-2 conv and pooling side by side
    (
        "mixed_6a",
        Cat(
            [Conv(384, 3, s=2, p="valid")], [Conv(64, 1), Conv(96, 3), Conv(96, 3, s=2, p="valid")], [max3s2]
        ),
    ),  # 17x17x768
    ("mixed_6b", block_c(128)),
    ("mixed_6c", block_c(160)),
    ("mixed_6d", block_c(160)),
    ("mixed_6e", block_c(192)),  # 17x17x768
    (
        "mixed_7a",
        Cat(
            [Conv(192, 1), Conv(320, 3, s=2, p="valid")],
            [Conv(192, 1), Conv(192, (1, 7)), Conv(192, (7, 1)), Conv(192, 3, s=2, p="valid")],
            [max3s2],
        ),
    ),  # 8x8x1280
    ("mixed_7b", block_e()),  # 8x8x2048
    ("mixed_7c", block_e()),  # 8x8x2048
)

# The auxiliary classifier on the 17x17 grid (Figure 8), with batch norm as in the paper's
# "BN-auxiliary" and torchvision: 5x5/3 average pool, 1x1 conv 128, 5x5 conv 768, classifier.
AUX = (
    Aux(
        "aux",
        after="mixed_6e",
        loss_weight=0.4,
        ops=(Pool("avg", 5, s=3), Conv(128, 1), Conv(768, 5, p="valid"), AdaptivePool(1)),
    ),
)

KERAS_NAMES = tuple(
    (f"mixed{i}", n)
    for i, n in enumerate(
        [
            "mixed_5b",
            "mixed_5c",
            "mixed_5d",
            "mixed_6a",
            "mixed_6b",
            "mixed_6c",
            "mixed_6d",
            "mixed_6e",
            "mixed_7a",
            "mixed_7b",
            "mixed_7c",
        ]
    )
)

PAPER = "Szegedy et al. 2015, Rethinking the Inception Architecture for Computer Vision"

VARIANTS = {
    # torchvision and timm: BN with scale, eps 1e-3; the pool branches average over padded zeros
    # too (F.avg_pool2d's default count_include_pad=True); dropout 0.5 before the classifier.
    "torchvision": NetSpec(
        "inception_v3",
        "torchvision",
        FEATURES,
        Style(norm="bn", eps=1e-3, avg_include_pad=True),
        default_size=299,
        drop_rate=0.5,
        aux=AUX,
        paper=PAPER,
        aliases=KERAS_NAMES,
        notes="torchvision.models.inception_v3 and timm inception_v3: BN(eps=1e-3) with scale; "
        "average pools count padded zeros; dropout 0.5.",
    ),
    # keras.applications.InceptionV3: BatchNormalization(scale=False, eps=1e-3, momentum=0.99);
    # AveragePooling2D(padding="same") ignores padded zeros; no dropout; no auxiliary head.
    "keras": NetSpec(
        "inception_v3",
        "keras",
        FEATURES,
        Style(norm="bn_noscale", eps=1e-3, momentum=0.01, same="tf", avg_include_pad=False),
        default_size=299,
        drop_rate=0.0,
        paper=PAPER,
        aliases=KERAS_NAMES,
        notes="keras.applications.InceptionV3: batch norm without scale (gamma), eps 1e-3; "
        "average pools exclude padding; no dropout, no auxiliary classifier.",
    ),
}
VARIANTS["timm"] = VARIANTS["torchvision"].with_(variant="timm")

# The FID network: TensorFlow's graph of 2015-12-05 (inception-2015-12-05.tgz), as pytorch-fid
# (FIDInceptionA/C/E_1/E_2 in pytorch_fid/inception.py) and torch-fidelity
# (feature_extractor_inceptionv3.py) port it with torchvision's tensor names. Its average pools do not
# count padded zeros (so the torchvision BN style with avg_include_pad=False: Mixed_5b-5d, 6b-6e, 7b);
# the pool branch of the last 8x8 module (Mixed_7c) is a 3x3/1 MAX pool, a quirk of that graph; the
# grid reductions (Mixed_6a, 7a) keep their 3x3/2 max pools; 1008 classes; no auxiliary head.
FID_FEATURES = (*FEATURES[:-1], ("mixed_7c", block_e(Pool("max", 3, p="same"))))
VARIANTS["fid"] = NetSpec(
    "inception_v3",
    "fid",
    FID_FEATURES,
    Style(norm="bn", eps=1e-3, avg_include_pad=False),
    default_size=299,
    default_classes=1008,
    drop_rate=0.0,
    paper=PAPER,
    aliases=KERAS_NAMES,
    notes="the FID network (TensorFlow graph 2015-12-05, pytorch-fid / torch-fidelity): average pools "
    "exclude padding (Mixed_5b-5d, 6b-6e, 7b); Mixed_7c pools its pool branch with 3x3/1 max pooling; "
    "1008 classes; no dropout, no auxiliary classifier.",
)
DEFAULT_VARIANT = "torchvision"

# The published weight sets of this architecture (inceptionkit.weight_sets says what each field means).
WEIGHT_SETS = (
    torchvision_set(
        "inception_v3",
        "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth",
        "Inception_V3_Weights",
        299,
        342,
    ),
    *keras_sets(
        "inception_v3", "InceptionV3", "9a0d58056eeedaa3f26cb7ebd46da564", "bcbd6486424b2319ff4ef7d526e38f63"
    ),
    timm_set("inception_v3.timm_tv_imagenet", "inception_v3.tv_in1k", 0.875),  # torchvision's, with aux
    timm_set("inception_v3.timm_tf_imagenet", "inception_v3.tf_in1k", 0.875),
    timm_set("inception_v3.timm_tf_adv_imagenet", "inception_v3.tf_adv_in1k", 0.875),
    timm_set(
        "inception_v3.timm_gluon_imagenet", "inception_v3.gluon_in1k", 0.875, IMAGENET_MEAN, IMAGENET_STD
    ),
    # the FID network (variant "fid"), as pytorch-fid and torch-fidelity publish it
    fid_set(
        "pytorch-fid",
        "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
        "pytorch_fid.inception.FID_WEIGHTS_URL",
    ),
    fid_set(
        "torch-fidelity",
        "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
        "torch_fidelity.feature_extractor_inceptionv3.URL_INCEPTION_V3",
    ),
)
