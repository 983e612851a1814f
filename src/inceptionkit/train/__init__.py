"""Training and fine-tuning, in one process or many (torchrun), resumable, with progress and curves.

Without data, :func:`train` trains ``inception_small`` on the built-in handwritten digits (12x12
grey, upsampled from 8x8; :data:`DIGITS_RECIPE`) and reports the accuracy on their held-out test
split: 98.9-99.4% over seeds 0-2, in about 30 s on two CPU cores. With a folder
(see :mod:`inceptionkit.data`) it trains or fine-tunes any model of the family.

The run folder RUN holds::

    config.json          the resolved settings, class names, preprocessing, and what the run was
                         trained on ("data": source, img_size, in_chans, val_split, split seed)
    split.json           the validation files drawn from a plain class folder (--val-split)
    best.safetensors     the weights of the epoch with the best validation accuracy  } inceptionkit's
    last.safetensors     the weights of the latest checkpoint                        } own format
    checkpoints/step-N/  the latest complete checkpoint set: the two files above, train_state.pt
                         (optimizer, schedule, AMP scaler, position, partial epoch sums, history;
                         ``torch.load(path, weights_only=True)``) and manifest.json, written last
    metrics.csv          one row per epoch;   curves.png: loss and accuracy per epoch
    tensorboard/         with ``tensorboard=True``

Checkpoints are written at each epoch end and every ``checkpoint_every`` steps as consistent sets
(:mod:`inceptionkit.train.checkpoint`): a run folder can be resumed after ``kill -9`` at any instant.
Randomness is a fixed function of the seed and the position: the epoch's order is a permutation
seeded by (seed, epoch), each sample's augmentation is seeded by (seed, epoch, index), and the global
random generator (dropout) is reseeded by (seed, rank, step) before every step. The seed and the
position are therefore the whole random state, and a run resumed from any checkpoint repeats the
uninterrupted run bit for bit on CPU with the same number of processes.

More than one process: launch with torchrun; every process trains on its own share of each batch
(``batch_size`` is the global batch, split evenly), gradients are averaged by
DistributedDataParallel (gloo on CPU, nccl on CUDA), and only rank 0 writes files and prints::

    torchrun --nproc_per_node 2 -m inceptionkit train --data DIR --model inception_v3
    # two machines, 4 GPUs each; run on both, RUN on a filesystem both see if you will --resume
    torchrun --nnodes 2 --nproc_per_node 4 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \\
        --rdzv-id myrun -m inceptionkit train --data DIR --model inception_v3 --device cuda

The package: :mod:`~.config` (settings, recipes, checks), :mod:`~.dist` (processes, devices),
:mod:`~.setup` (the model and its preprocessing), :mod:`~.optim`, :mod:`~.step` (one step),
:mod:`~.checkpoint` (checkpoint sets), :mod:`~.saving` (the run's state, written and restored),
:mod:`~.run_folder`, :mod:`~.report`, :mod:`~.loop` (the
run), :mod:`~.benchmark` (training throughput).
"""

from ..lazy import lazy_exports

# name -> the submodule that defines it, imported on first use (building the parser needs none)
_EXPORTS = {
    "ConfigError": "..errors",
    "Diverged": "..errors",
    "benchmark_training": "benchmark",
    "CheckpointError": "checkpoint",
    "DEFAULT_WEIGHT_DECAY": "config",
    "DIGITS_RECIPE": "config",
    "FOLDER_RECIPE": "config",
    "OPTIMIZERS": "config",
    "RUNTIME_FIELDS": "config",
    "SCHEDULES": "config",
    "TrainConfig": "config",
    "default_lr": "config",
    "resolve": "config",
    "TrainResult": "loop",
    "train": "loop",
    "lr_factor": "optim",
    "make_optimizer": "optim",
    "save_curves": "report",
    "RunDataSource": "run_folder",
    "read_run_config": "run_folder",
    "run_data_source": "run_folder",
    "Stepper": "step",
    "aux_weights": "step",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "DEFAULT_WEIGHT_DECAY",
    "DIGITS_RECIPE",
    "FOLDER_RECIPE",
    "OPTIMIZERS",
    "RUNTIME_FIELDS",
    "SCHEDULES",
    "CheckpointError",
    "ConfigError",
    "Diverged",
    "RunDataSource",
    "Stepper",
    "TrainConfig",
    "TrainResult",
    "aux_weights",
    "benchmark_training",
    "default_lr",
    "lr_factor",
    "make_optimizer",
    "read_run_config",
    "resolve",
    "run_data_source",
    "save_curves",
    "train",
]
