"""The xai functions on the real AMES architectures from ames_batch.nn (untrained, seeded).

Inputs are the architectures' minimum sizes (85 x 85, 8 x 85 x 85): the three valid stride-2
blocks need them.
"""

import numpy as np
import pytest

from ames_batch.xai import grad_cam, ig_completeness_error, integrated_gradients

nn = pytest.importorskip("ames_batch.nn")

TASKS = {"sarcomerisation": ["1", "2", "3", "4"], "source": ["adult", "neonatal", "ipsc"]}


@pytest.mark.parametrize("arch", ["2d", "3d"])
def test_singular_models_every_task(rng, arch):
    shape = nn.min_input_size(arch)
    model = nn.build_model(arch, input_shape=shape, tasks=TASKS, seed=4)
    x = rng.random((2, *shape, 1), dtype=np.float32)
    probs = model.predict(x, verbose=0)
    for task in TASKS:
        heat = grad_cam(model, x, output=task)
        assert heat.shape == (2, *shape) and heat.dtype == np.float32
        assert heat.min() >= 0 and heat.max() <= 1
        attr = integrated_gradients(model, x, output=task, steps=16)
        assert attr.shape == x.shape
        assert np.all(ig_completeness_error(model, x, attr, output=task) < 0.05)
        # explaining the predicted class = explaining argmax of the model's own probabilities
        explicit = grad_cam(model, x, output=task, class_index=probs[task].argmax(1))
        np.testing.assert_array_equal(heat, explicit)


def test_ensemble_member_is_explained_on_its_logit(rng):
    """The winning one-vs-all member, via RatingModel.explain_target, as the run step does."""
    shape = nn.min_input_size("2d-ensemble")
    ensemble = nn.build_model("2d-ensemble", input_shape=shape, tasks={"source": TASKS["source"]}, seed=5)
    x = rng.random((3, *shape, 1), dtype=np.float32)
    target = nn.RatingModel(ensemble, tasks={"source": TASKS["source"]},
                            settings=nn.PreprocessSettings(input_shape=shape)).explain_target("source")
    member, unit = target.for_class("ipsc")
    heat = grad_cam(member, x, output=target.logits_layer, class_index=unit, layer=target.conv_layer)
    assert heat.shape == (3, *shape)
    np.testing.assert_array_equal(heat, grad_cam(member, x, output="source"))  # task name -> same logits
    attr = integrated_gradients(member, x, output=target.logits_layer, class_index=unit, steps=16)
    assert np.all(ig_completeness_error(member, x, attr, output=target.logits_layer, class_index=unit) < 0.05)
