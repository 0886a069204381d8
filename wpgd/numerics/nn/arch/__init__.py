"""Published gated token mixers as one-layer models (issue 15): RetNet, Mamba2 (SSD), GLA,
RWKV-6, mLSTM, DeltaNet and Gated DeltaNet.

Each module holds the architecture's naive recurrent reference and an independent materialised
(parallel) form in flash-linear-attention's conventions (``[B, T, H, K]``, log-space decays,
float64 by default) and its one-layer model (:class:`ArchModel`: in-projections from the token,
the recurrence, the query's label read-out). :func:`arch_model` builds a layer by name,
:func:`construct_model` sets one to compute a given WPGD predictor exactly, and
:func:`train_architecture` trains one with the project's trainer. Conventions and the blocks
that are left out: docs/atlas/implementation.md.
"""

from ._base import ArchModel
from .construct import construct_model, segment_weights
from .deltanet import naive_recurrent_delta_rule, parallel_delta_rule
from .mamba2 import naive_recurrent_mamba2, parallel_mamba2
from .mlstm import naive_recurrent_mlstm, parallel_mlstm
from .registry import ARCH_MODELS, arch_model
from .retnet import naive_recurrent_retnet, parallel_retnet, retnet_log_decays
from .rwkv6 import naive_recurrent_rwkv6, parallel_rwkv6
from .training import ArchTrainResult, arch_theory, arch_train_config, train_architecture

__all__ = [
    "ARCH_MODELS",
    "ArchModel",
    "ArchTrainResult",
    "arch_model",
    "arch_theory",
    "arch_train_config",
    "construct_model",
    "naive_recurrent_delta_rule",
    "naive_recurrent_mamba2",
    "naive_recurrent_mlstm",
    "naive_recurrent_retnet",
    "naive_recurrent_rwkv6",
    "parallel_delta_rule",
    "parallel_mamba2",
    "parallel_mlstm",
    "parallel_retnet",
    "parallel_rwkv6",
    "retnet_log_decays",
    "segment_weights",
    "train_architecture",
]
