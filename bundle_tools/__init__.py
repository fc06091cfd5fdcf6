"""What the bundle configs name besides networks: engines, losses, transforms (see ARCHITECTURE.md)."""

from bundle_tools.amp import AmpPolicy as AmpPolicy
from bundle_tools.amp import AmpSupervisedEvaluator as AmpSupervisedEvaluator
from bundle_tools.amp import AmpSupervisedTrainer as AmpSupervisedTrainer
from bundle_tools.amp import resolve_amp as resolve_amp
from bundle_tools.losses import FocalTverskyLoss as FocalTverskyLoss
from bundle_tools.losses import plan_class_weights as plan_class_weights
from bundle_tools.memory import reuse_freed_memory as reuse_freed_memory
from bundle_tools.plots import AttentionMapSaver as AttentionMapSaver
from bundle_tools.plots import OverlaySaver as OverlaySaver
from bundle_tools.plots import TrainingCurves as TrainingCurves
from bundle_tools.plots import save_attention_overlay as save_attention_overlay
from bundle_tools.plots import save_segmentation_overlay as save_segmentation_overlay
from bundle_tools.report import SegmentationReport as SegmentationReport
from bundle_tools.report import evaluate_folders as evaluate_folders
from bundle_tools.report import write_report as write_report
from bundle_tools.surface_metrics import ASSDHandler as ASSDHandler
from bundle_tools.surface_metrics import HD95Handler as HD95Handler
from bundle_tools.surface_metrics import SurfaceDistanceHandlerMM as SurfaceDistanceHandlerMM
from bundle_tools.surface_metrics import SurfaceDistanceMetricMM as SurfaceDistanceMetricMM
from bundle_tools.surface_metrics import binary_scores as binary_scores
from bundle_tools.surface_metrics import segmentation_scores as segmentation_scores
from bundle_tools.surface_metrics import spacing_from_meta as spacing_from_meta
from bundle_tools.transforms import MSDBrainTumourToMultiLabel as MSDBrainTumourToMultiLabel
from bundle_tools.transforms import MSDBrainTumourToMultiLabeld as MSDBrainTumourToMultiLabeld
from bundle_tools.transforms import NormalizeFromPlan as NormalizeFromPlan
from bundle_tools.transforms import NormalizeFromPland as NormalizeFromPland
from bundle_tools.transforms import load_plan as load_plan  # data_prep.plan.load_plan
