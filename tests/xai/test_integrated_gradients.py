"""Integrated Gradients: exactness on linear models, completeness on non-linear 2D/3D models."""

import keras
import numpy as np
import pytest
from scipy import ndimage as ndi
from xai_toys import conv_gap_model, set_known_weights

from ames_batch.xai import ig_completeness_error, integrated_gradients, path_nodes


def _linear_model(spatial, n_classes=3):
    x = keras.Input((*spatial, 1))
    z = keras.layers.Dense(n_classes, name="lin_logits")(keras.layers.Flatten()(x))
    return keras.Model(x, keras.layers.Activation("softmax", name="lin")(z))


def _smooth_model(spatial, seed=3):
    """Conv(tanh) -> GAP -> Dense logits: smooth along the path, so quadrature rules can be compared."""
    conv = {2: keras.layers.Conv2D, 3: keras.layers.Conv3D}[len(spatial)]
    gap = {2: keras.layers.GlobalAveragePooling2D, 3: keras.layers.GlobalAveragePooling3D}[len(spatial)]
    init = keras.initializers.GlorotNormal(seed=seed)
    x = keras.Input((*spatial, 1))
    h = conv(4, 3, padding="same", activation="tanh", kernel_initializer=init, name="c1")(x)
    h = conv(4, 3, padding="same", activation="tanh", kernel_initializer=init, name="last_conv")(h)
    z = keras.layers.Dense(2, kernel_initializer=init, name="s_logits")(gap()(h))
    return keras.Model(x, keras.layers.Activation("softmax", name="s")(z))


def _logits(model, name, x):
    """Independent forward pass through Keras' own predict on a sub-model ending at the logits layer."""
    return keras.Model(model.inputs, model.get_layer(name).output).predict(x, verbose=0).astype(np.float64)


@pytest.mark.parametrize("method", ["trapezoid", "gausslegendre"])
@pytest.mark.parametrize("baseline", ["black", "array", "blurred"])
def test_linear_model_ig_is_exactly_input_times_weight(rng, method, baseline):
    spatial = (6, 5)
    model = _linear_model(spatial)
    w = rng.normal(size=(30, 3)).astype(np.float32)
    model.get_layer("lin_logits").set_weights([w, rng.normal(size=3).astype(np.float32)])
    x = rng.normal(size=(4, *spatial, 1)).astype(np.float32)
    if baseline == "black":
        base, kwargs = np.zeros_like(x), {}
    elif baseline == "array":
        base = rng.normal(size=(*spatial, 1)).astype(np.float32)
        kwargs = {"baseline": base}
    else:
        base = np.stack([ndi.gaussian_filter(s[..., 0], 1.5, mode="reflect")[..., None] for s in x])
        kwargs = {"baseline": "blurred", "blur_sigma_px": 1.5}
    for cls in range(3):
        got = integrated_gradients(model, x, output="lin", class_index=cls, steps=3, method=method, **kwargs)
        expected = (x - base) * w[:, cls].reshape(*spatial, 1)
        assert got.shape == x.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("spatial", [(12, 12), (6, 10, 10)], ids=["2d", "3d"])
@pytest.mark.parametrize("method", ["trapezoid", "gausslegendre"])
def test_completeness_on_relu_conv_model(rng, spatial, method):
    """sum(IG) = f(x) - f(baseline) within 5 % (brief) with 64 steps; checked against Keras' predict."""
    model = conv_gap_model(spatial, filters=4, n_classes=3)
    set_known_weights(model, rng, kernel_shape=(3,) * len(spatial), n_filters=4, n_classes=3)
    x = rng.normal(size=(3, *spatial, 1)).astype(np.float32)
    attr = integrated_gradients(model, x, output="toy", steps=64, method=method)
    f_x = _logits(model, "toy_logits", x)
    f_b = _logits(model, "toy_logits", np.zeros_like(x))
    cls = f_x.argmax(1)
    delta = f_x[np.arange(3), cls] - f_b[np.arange(3), cls]
    sums = attr.reshape(3, -1).sum(1)
    np.testing.assert_allclose(sums, delta, rtol=0.05)
    err = ig_completeness_error(model, x, attr, output="toy")
    np.testing.assert_allclose(err, np.abs(sums - delta) / np.abs(delta), rtol=1e-3, atol=1e-6)
    assert np.all(err < 0.05)


def test_completeness_of_probability_target_and_blurred_baseline(rng):
    model = _smooth_model((12, 12))
    x = (rng.random((3, 12, 12, 1)) * 4).astype(np.float32)
    kwargs = {"output": "s", "target": "probability", "baseline": "blurred", "blur_sigma_px": 2.0}
    attr = integrated_gradients(model, x, steps=32, **kwargs)
    base = ndi.gaussian_filter(x, (0, 2.0, 2.0, 0), mode="reflect")
    p_x, p_b = model.predict(x, verbose=0), model.predict(base, verbose=0)  # the softmax output itself
    cls = p_x.argmax(1)
    delta = p_x[np.arange(3), cls] - p_b[np.arange(3), cls]
    np.testing.assert_allclose(attr.reshape(3, -1).sum(1), delta, rtol=0.01, atol=1e-6)
    assert np.all(ig_completeness_error(model, x, attr, **kwargs) < 0.01)


def test_gauss_legendre_beats_trapezoid_on_a_smooth_model(rng):
    """Same number of gradient passes; GL is exact for polynomials of degree 2m-1, trapezoid for 1."""
    model = _smooth_model((10, 10))
    x = (rng.random((4, 10, 10, 1)) * 6).astype(np.float32)
    err_gl = ig_completeness_error(model, x, integrated_gradients(model, x, output="s", steps=8), output="s")
    err_tr = ig_completeness_error(
        model, x, integrated_gradients(model, x, output="s", steps=7, method="trapezoid"), output="s"
    )
    assert np.median(err_gl) < np.median(err_tr)
    coarse = integrated_gradients(model, x, output="s", steps=2, method="trapezoid")
    assert np.median(ig_completeness_error(model, x, coarse, output="s")) > np.median(err_tr)


@pytest.mark.parametrize("method", ["trapezoid", "gausslegendre"])
def test_path_nodes_integrate_polynomials(method):
    alphas, weights = path_nodes(16, method)
    assert alphas.min() >= 0 and alphas.max() <= 1
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert (weights * alphas).sum() == pytest.approx(0.5, abs=1e-12)  # both exact for degree 1
    assert (weights * alphas**2).sum() == pytest.approx(1 / 3, abs=1e-3)


def test_batch_size_and_class_index_per_sample(rng):
    model = conv_gap_model((8, 8), filters=3, n_classes=3)
    set_known_weights(model, rng, kernel_shape=(3, 3), n_filters=3, n_classes=3)
    x = rng.normal(size=(5, 8, 8, 1)).astype(np.float32)
    a1 = integrated_gradients(model, x, output="toy", steps=10, batch_size=1)
    a2 = integrated_gradients(model, x, output="toy", steps=10, batch_size=7)
    a3 = integrated_gradients(model, x, output="toy", steps=10, batch_size=64)
    np.testing.assert_allclose(a1, a2, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(a1, a3, rtol=1e-4, atol=1e-6)
    per = [0, 2, 1, 1, 0]
    mixed = integrated_gradients(model, x, output="toy", steps=10, class_index=per)
    for i, c in enumerate(per):
        alone = integrated_gradients(model, x[i : i + 1], output="toy", steps=10, class_index=c)
        np.testing.assert_allclose(mixed[i], alone[0], rtol=1e-4, atol=1e-6)


def test_input_equal_to_baseline_gives_zero_attribution(rng):
    model = conv_gap_model((8, 8))
    x = rng.normal(size=(2, 8, 8, 1)).astype(np.float32)
    attr = integrated_gradients(model, x, output="toy", baseline=x)
    assert np.all(attr == 0)
    assert np.all(ig_completeness_error(model, x, attr, output="toy", baseline=x) == 0)


def test_bad_arguments_are_refused(rng):
    model = conv_gap_model((8, 8))
    x = rng.normal(size=(2, 8, 8, 1)).astype(np.float32)
    with pytest.raises(ValueError, match="blur_sigma_px"):
        integrated_gradients(model, x, output="toy", baseline="blurred")
    with pytest.raises(ValueError, match="blur_sigma_px"):
        integrated_gradients(model, x, output="toy", baseline="blurred", blur_sigma_px=[1, 2, 3])
    with pytest.raises(ValueError, match="baseline"):
        integrated_gradients(model, x, output="toy", baseline="white")
    with pytest.raises(ValueError, match="baseline"):
        integrated_gradients(model, x, output="toy", baseline=np.zeros((3, 3)))
    with pytest.raises(TypeError, match="baseline"):
        integrated_gradients(model, x, output="toy", baseline=3)
    with pytest.raises(ValueError, match="method"):
        integrated_gradients(model, x, output="toy", method="simpson")
    with pytest.raises(ValueError, match="target"):
        integrated_gradients(model, x, output="toy", target="loss")
    with pytest.raises(ValueError, match="steps"):
        integrated_gradients(model, x, output="toy", steps=0)
    with pytest.raises(TypeError, match="steps"):
        integrated_gradients(model, x, output="toy", steps=2.5)
    with pytest.raises(ValueError, match="no layer"):
        integrated_gradients(model, x, output="sarcomerisation")
    with pytest.raises(ValueError, match="attributions"):
        ig_completeness_error(model, x, np.zeros((2, 8, 8)), output="toy")


@pytest.mark.parametrize("steps", [4, 16])
def test_quadrature_weights_on_a_homogeneous_relu_net(rng, steps):
    """Bias-free ReLU conv -> GAP -> Dense is positively homogeneous: f(a x) = a f(x), so the
    gradient is constant along the black-baseline path for a > 0, but zero at a = 0 (ReLU'(0) = 0
    in TF). Gauss-Legendre never evaluates the end points: exact. The trapezoid rule gives its
    first node weight 1 / (2 steps) to that zero gradient: relative error exactly 1 / (2 steps)."""
    model = conv_gap_model((10, 10), filters=4, n_classes=2)
    k, _, w, _ = set_known_weights(model, rng, kernel_shape=(3, 3), n_filters=4, n_classes=2)
    model.get_layer("last_conv").set_weights([k, np.zeros(4, np.float32)])
    model.get_layer("toy_logits").set_weights([w, np.zeros(2, np.float32)])
    x = rng.normal(size=(3, 10, 10, 1)).astype(np.float32)
    gl = integrated_gradients(model, x, output="toy", steps=steps)
    tr = integrated_gradients(model, x, output="toy", steps=steps, method="trapezoid")
    assert np.all(ig_completeness_error(model, x, gl, output="toy") < 1e-4)
    np.testing.assert_allclose(ig_completeness_error(model, x, tr, output="toy"), 1 / (2 * steps), rtol=1e-3)
