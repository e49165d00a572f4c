"""Training one network: optimiser settings and the early-stopping loop (deterministic per seed and thread count)."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
from torch import nn

from xasflow.errors import XasflowError

SCHEDULES = ("none", "plateau", "cosine")
#: Training losses: ``mse`` (published) or ``logmse`` (mean over spectra of log(per-spectrum MSE + 1e-4)).
LOSSES = ("mse", "logmse")
LOGMSE_EPS = 1e-4


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser and stopping settings of one training run.

    Parameters
    ----------
    lr
        Adam learning rate.
    batch_size
        Mini-batch size.
    max_epochs, patience
        Upper bound of epochs; stop when the early-stopping loss has not improved for ``patience`` epochs
        (the best weights are restored).
    weight_decay
        Decoupled (AdamW) weight decay; 0 gives plain Adam.
    schedule
        Learning-rate schedule: ``none``, ``plateau`` (halve after ``patience // 3`` flat epochs) or ``cosine``.
    seed
        Seed of weight initialisation, shuffling and dropout.
    threads
        torch intra-op threads (1 keeps the 2-core machine usable by others).
    freeze_batchnorm
        Keep BatchNorm running statistics fixed (fine-tuning: one element's batches would otherwise overwrite
        the statistics learnt over all elements).
    deriv_weight
        Weight of the line-shape term: MSE of the first differences along energy, added to the MSE loss
        (early stopping stays on the plain MSE, the quantity η measures).
    input_noise
        Std of Gaussian noise added to the inputs during training, in units of the network's feature scale
        (standard deviations when the inputs are standardised).
    freeze_layers
        Number of leading hidden blocks kept fixed (weights and BatchNorm statistics): fine-tuning only the top.
    loss
        ``mse`` or ``logmse``: the mean of log(per-spectrum MSE + 1e-4), which weights each spectrum by the
        inverse of its error (closer to η's *median* per-spectrum MSE than the mean is).
    """

    lr: float = 1e-3
    batch_size: int = 128
    max_epochs: int = 500
    patience: int = 30
    weight_decay: float = 0.0
    schedule: str = "none"
    seed: int = 0
    threads: int = 1
    freeze_batchnorm: bool = False
    deriv_weight: float = 0.0
    input_noise: float = 0.0
    freeze_layers: int = 0
    loss: str = "mse"

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise XasflowError(f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        if self.schedule not in SCHEDULES:
            raise XasflowError(f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        if self.lr <= 0 or self.batch_size < 1 or self.max_epochs < 1 or self.patience < 1 or self.threads < 1:
            raise XasflowError("lr, batch_size, max_epochs, patience and threads must be positive")
        if self.deriv_weight < 0 or self.input_noise < 0 or self.freeze_layers < 0:
            raise XasflowError("deriv_weight, input_noise and freeze_layers must be non-negative")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_seed(self, seed: int) -> TrainConfig:
        return replace(self, seed=seed)


@dataclass(frozen=True)
class Batch:
    """Tensors of one data subset: features, optional element codes, targets."""

    features: torch.Tensor
    targets: torch.Tensor
    codes: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.features)

    def rows(self, index: torch.Tensor) -> Batch:
        return Batch(self.features[index], self.targets[index], None if self.codes is None else self.codes[index])


@dataclass(frozen=True)
class History:
    """What happened during one training run."""

    epochs: int
    best_epoch: int
    best_stop_loss: float
    seconds: float


def training_loss(
    prediction: torch.Tensor, target: torch.Tensor, deriv_weight: float = 0.0, kind: str = "mse"
) -> torch.Tensor:
    """MSE (or ``logmse``), plus ``deriv_weight`` × MSE of the first differences along energy (line shape)."""
    if kind == "logmse":
        loss = torch.log(((prediction - target) ** 2).mean(dim=1) + LOGMSE_EPS).mean()
    else:
        loss = nn.functional.mse_loss(prediction, target)
    if deriv_weight > 0:
        loss = loss + deriv_weight * nn.functional.mse_loss(prediction.diff(dim=1), target.diff(dim=1))
    return loss


def _frozen_modules(net: nn.Module, config: TrainConfig) -> list[nn.Module]:
    """Modules whose weights and statistics stay fixed: the first ``freeze_layers`` hidden blocks."""
    if config.freeze_layers == 0:
        return []
    layers = list(getattr(net, "layers", []))
    return layers[: 4 * config.freeze_layers]


def _stop_loss(net: nn.Module, data: Batch) -> float:
    net.eval()
    with torch.no_grad():
        return float(nn.functional.mse_loss(net(data.features, data.codes), data.targets))


def train_network(
    net: nn.Module,
    train: Batch,
    stop: Batch | None,
    config: TrainConfig,
    on_epoch: Callable[[int, float], None] | None = None,
) -> History:
    """Train ``net`` in place with MSE loss; restore the weights of the best early-stopping epoch.

    Without a ``stop`` subset the run lasts ``max_epochs`` and keeps the last weights.
    """
    torch.set_num_threads(config.threads)
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)  # dropout draws from the global generator
    frozen = _frozen_modules(net, config)
    frozen_ids = {id(p) for m in frozen for p in m.parameters()}
    parameters = [p for p in net.parameters() if id(p) not in frozen_ids]
    if not parameters:
        raise XasflowError("freeze_layers leaves no parameter to train")
    if config.weight_decay > 0:
        optimizer = torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)
    else:
        optimizer = torch.optim.Adam(parameters, lr=config.lr)
    scheduler: torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau | None = None
    if config.schedule == "plateau":
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=0.5, patience=max(1, config.patience // 3)
        )
    elif config.schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.max_epochs)
    start = time.perf_counter()
    # Scoring the starting weights first means fine-tuning can never end worse (on the stop set) than it began.
    best_loss = _stop_loss(net, stop) if stop is not None else math.inf
    best_epoch, best_state = 0, copy.deepcopy(net.state_dict())
    # BatchNorm cannot normalise a batch of one row: drop a trailing singleton batch.
    drop_last_single = len(train) % config.batch_size == 1
    epoch = 0
    for epoch in range(1, config.max_epochs + 1):
        net.train()
        if config.freeze_batchnorm:
            for module in net.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        for module in frozen:
            module.eval()
        order = torch.randperm(len(train), generator=generator)
        for begin in range(0, len(train), config.batch_size):
            index = order[begin : begin + config.batch_size]
            if len(index) == 1 and drop_last_single:
                continue
            batch = train.rows(index)
            features = batch.features
            if config.input_noise > 0:
                scale = getattr(net, "feature_scale", torch.ones(features.shape[1]))
                features = features + config.input_noise * scale * torch.randn(features.shape, generator=generator)
            optimizer.zero_grad(set_to_none=True)
            loss = training_loss(net(features, batch.codes), batch.targets, config.deriv_weight, config.loss)
            loss.backward()
            optimizer.step()
        if stop is None:
            if isinstance(scheduler, torch.optim.lr_scheduler.CosineAnnealingLR):
                scheduler.step()
            continue
        loss_value = _stop_loss(net, stop)
        if on_epoch is not None:
            on_epoch(epoch, loss_value)
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(loss_value)
        elif scheduler is not None:
            scheduler.step()
        if loss_value < best_loss:
            best_loss, best_epoch, best_state = loss_value, epoch, copy.deepcopy(net.state_dict())
        elif epoch - best_epoch >= config.patience:
            break
    if stop is not None:
        net.load_state_dict(best_state)
    else:
        best_epoch = epoch
    net.eval()
    return History(epochs=epoch, best_epoch=best_epoch, best_stop_loss=best_loss, seconds=time.perf_counter() - start)
