"""The training and evaluation engines of the bundles: MONAI's supervised engines with mixed precision
(``precision``), channels-last (``channels_last``) and deep supervision (``deep_supervision``), wrapped
around the network and the loss once (``autocast``), and the host-memory setting they run under
(``memory``); see docs/architecture.md."""

from .._lazy import lazy_exports

_NAMES = {
    "AmpInferer": "autocast",
    "AmpPolicy": "precision",
    "AmpSupervisedEvaluator": "evaluator",
    "AmpSupervisedTrainer": "trainer",
    "Float32Loss": "autocast",
    "NonFiniteError": "finite",
    "cpu_has_fast_bf16": "precision",
    "full_resolution_head": "deep_supervision",
    "resolve_amp": "precision",
    "stop_on_non_finite_loss": "finite",
    "reuse_freed_memory": "memory",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
