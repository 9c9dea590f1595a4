"""Explanations of rating models: Grad-CAM and Integrated Gradients, 2D and 3D (pure, given a model)."""

from ._gradcam import GRAD_CAM_RANGE, forward_pass, grad_cam, grad_cam_pass, upsample_linear
from ._integrated_gradients import ig_completeness_error, integrated_gradients, path_nodes
from ._overlay import overlay_png

__all__ = [
    "GRAD_CAM_RANGE",
    "forward_pass",
    "grad_cam",
    "grad_cam_pass",
    "ig_completeness_error",
    "integrated_gradients",
    "overlay_png",
    "path_nodes",
    "upsample_linear",
]
