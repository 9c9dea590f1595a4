"""Cross-check against tf-keras-vis's Grad-CAM (an independent implementation), when installed.

tf-keras-vis is not a dependency (it reaches into Keras internals); install it by hand
(``pip install --no-deps tf-keras-vis``) to run these. Compared on stride-1 'same' convolutions,
where no upsampling convention is involved, after min-max scaling both maps (tf-keras-vis
normalises by min-max, we by max).
"""

import numpy as np
import pytest
from xai_toys import conv_gap_model, set_known_weights

from ames_batch.xai import grad_cam

pytest.importorskip("tf_keras_vis", reason="tf-keras-vis not installed (optional cross-check)")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:tf_keras_vis")


def _minmax(maps):
    flat = maps.reshape(len(maps), -1)
    lo, hi = flat.min(1), flat.max(1)
    return ((flat - lo[:, None]) / np.where(hi > lo, hi - lo, 1)[:, None]).reshape(maps.shape)


@pytest.mark.parametrize("spatial", [(16, 16), (6, 12, 12)], ids=["2d", "3d"])
def test_grad_cam_matches_tf_keras_vis(rng, spatial):
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    model = conv_gap_model(spatial, filters=4, n_classes=3)
    set_known_weights(model, rng, kernel_shape=(3,) * len(spatial), n_filters=4, n_classes=3)
    x = rng.normal(size=(4, *spatial, 1)).astype(np.float32)
    classes = [0, 1, 2, 1]
    theirs = Gradcam(model, model_modifier=ReplaceToLinear(), clone=True)(
        CategoricalScore(classes), x, penultimate_layer="last_conv"
    )
    ours = grad_cam(model, x, output="toy", class_index=classes)
    np.testing.assert_allclose(_minmax(ours), _minmax(np.asarray(theirs)), atol=1e-4)
