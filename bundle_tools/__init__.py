"""What the bundle configs name besides networks: engines, losses, transforms (see ARCHITECTURE.md)."""

from bundle_tools.amp import AmpPolicy as AmpPolicy
from bundle_tools.amp import AmpSupervisedEvaluator as AmpSupervisedEvaluator
from bundle_tools.amp import AmpSupervisedTrainer as AmpSupervisedTrainer
from bundle_tools.amp import resolve_amp as resolve_amp
from bundle_tools.losses import FocalTverskyLoss as FocalTverskyLoss
from bundle_tools.losses import plan_class_weights as plan_class_weights
from bundle_tools.transforms import MSDBrainTumourToMultiLabel as MSDBrainTumourToMultiLabel
from bundle_tools.transforms import MSDBrainTumourToMultiLabeld as MSDBrainTumourToMultiLabeld
from bundle_tools.transforms import NormalizeFromPlan as NormalizeFromPlan
from bundle_tools.transforms import NormalizeFromPland as NormalizeFromPland
from bundle_tools.transforms import load_plan as load_plan
