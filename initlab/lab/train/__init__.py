"""Training: the loop (:mod:`.loop`), several models at once (:mod:`.stacked`), the config.

``train(model, data, config, data_seed=...)`` trains one model in place;
``train_stacked(models, data, config, ...)`` trains several models of one architecture on
the same batches (stacked into one network where it is faster) and returns the same
results as training them one by one.
"""

from __future__ import annotations

from initlab.lab.train.config import OPTIMIZERS, TrainConfig, epoch_limits, total_steps
from initlab.lab.train.loop import RunResult, StepCallback, run_loop, train
from initlab.lab.train.stacked import train_stacked

__all__ = ["OPTIMIZERS", "TrainConfig", "RunResult", "StepCallback", "train", "train_stacked",
           "run_loop", "epoch_limits", "total_steps"]
