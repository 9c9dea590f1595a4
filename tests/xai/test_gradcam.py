"""Grad-CAM against the maths done in numpy on models with known weights, 2D and 3D."""

import keras
import numpy as np
import pytest
from scipy import ndimage as ndi
from xai_toys import conv_gap_model, set_known_weights

from ames_batch.xai import grad_cam, grad_cam_pass, upsample_linear

# float32 model vs float64 numpy reference: relative error ~1e-6, 1e-5 leaves room for summation order
RTOL, ATOL = 1e-4, 1e-5


def _relu(a):
    return np.maximum(a, 0)


def _numpy_conv_same(x, kernel, bias):
    """Keras 'same' conv (cross-correlation, zero padding, odd kernel) + ReLU, per filter, numpy/scipy."""
    # x: (N, *spatial, 1), kernel: (*k, 1, F)
    out = []
    for f in range(kernel.shape[-1]):
        per = [ndi.correlate(s[..., 0].astype(np.float64), kernel[..., 0, f], mode="constant") for s in x]
        out.append(np.stack(per) + bias[f])
    return _relu(np.stack(out, axis=-1))


def _cam_reference(acts, w, c, class_index=None):
    """CAM = Grad-CAM for conv -> GAP -> Dense: d y_c / d A_k = w[k, c] / |grid| everywhere."""
    grid = np.prod(acts.shape[1:-1])
    logits = acts.reshape(acts.shape[0], -1, acts.shape[-1]).mean(axis=1) @ w + c
    cls = logits.argmax(axis=1) if class_index is None else np.full(len(acts), class_index)
    alpha = w[:, cls].T / grid  # (N, F)
    cam = _relu(np.einsum("n...f,nf->n...", acts, alpha))
    peak = cam.reshape(len(cam), -1).max(axis=1).reshape((-1,) + (1,) * (cam.ndim - 1))
    return cam / np.where(peak > 0, peak, 1), logits, cls


@pytest.mark.parametrize("spatial", [(12, 12), (6, 10, 10)], ids=["2d", "3d"])
def test_grad_cam_equals_cam_for_gap_model(rng, spatial):
    n_filters, n_classes = 4, 3
    model = conv_gap_model(spatial, filters=n_filters, n_classes=n_classes)
    k, b, w, c = set_known_weights(
        model, rng, kernel_shape=(3,) * len(spatial), n_filters=n_filters, n_classes=n_classes
    )
    x = rng.normal(size=(5, *spatial, 1)).astype(np.float32)
    acts = _numpy_conv_same(x, k, b)
    expected, logits, cls = _cam_reference(acts, w, c)
    # the model's own prediction agrees with the numpy forward pass (the reference is the same net)
    np.testing.assert_array_equal(model.predict(x, verbose=0).argmax(1), cls)

    got = grad_cam(model, x, output="toy")
    assert got.shape == (5, *spatial) and got.dtype == np.float32
    assert got.min() >= 0 and got.max() <= 1
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)

    for explicit in range(n_classes):
        exp_c, _, _ = _cam_reference(acts, w, c, class_index=explicit)
        np.testing.assert_allclose(grad_cam(model, x, output="toy", class_index=explicit), exp_c,
                                   rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("spatial", [(12, 12), (6, 10, 10)], ids=["2d", "3d"])
def test_one_pass_gives_the_probabilities_and_the_maps_of_the_numpy_reference(rng, spatial):
    """grad_cam_pass: softmax of the numpy logits, the CAM of the argmax class, GAP features; 7 cells
    in batches of 3 (the last one of 1)."""
    import keras

    n_filters, n_classes = 4, 3
    model = conv_gap_model(spatial, filters=n_filters, n_classes=n_classes)
    k, b, w, c = set_known_weights(model, rng, kernel_shape=(3,) * len(spatial), n_filters=n_filters,
                                   n_classes=n_classes)
    pool = next(layer.name for layer in model.layers if isinstance(layer, keras.layers.Layer)
                and "global_average" in layer.name)
    x = rng.normal(size=(7, *spatial, 1)).astype(np.float32)
    acts = _numpy_conv_same(x, k, b)
    expected, logits, _ = _cam_reference(acts, w, c)
    probs, maps, extras = grad_cam_pass(model, x, outputs=["toy"], extra_layers=[pool], batch_size=3)
    p = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(probs["toy"], p / p.sum(1, keepdims=True), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(maps["toy"], expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(extras[pool], acts.reshape(7, -1, n_filters).mean(axis=1), rtol=RTOL, atol=ATOL)
    # a chosen class per cell (as a hybrid rater explains its own prediction, not the image logits')
    chosen = np.arange(7) % n_classes
    _, picked, _ = grad_cam_pass(model, x, outputs=["toy"], class_index={"toy": chosen}, batch_size=3)
    for i, cls in enumerate(chosen):
        exp_c, _, _ = _cam_reference(acts[i:i + 1], w, c, class_index=cls)
        np.testing.assert_allclose(picked["toy"][i:i + 1], exp_c, rtol=RTOL, atol=ATOL)
    with pytest.raises(ValueError, match="not in `outputs`"):
        grad_cam_pass(model, x, outputs=["toy"], class_index={"other": 0})


@pytest.mark.parametrize("spatial", [(12, 12), (6, 10, 10)], ids=["2d", "3d"])
def test_a_class_chosen_after_the_pass_from_its_features_gets_the_numpy_reference_map(rng, spatial):
    """class_index as a callable: it sees the pass's probabilities and extra layers, and each cell
    gets the CAM of the class it chose (here not the argmax), as from a second pass given those classes."""
    n_filters, n_classes = 4, 3
    model = conv_gap_model(spatial, filters=n_filters, n_classes=n_classes)
    k, b, w, c = set_known_weights(model, rng, kernel_shape=(3,) * len(spatial), n_filters=n_filters,
                                   n_classes=n_classes)
    pool = next(layer.name for layer in model.layers if "global_average" in layer.name)
    x = rng.normal(size=(7, *spatial, 1)).astype(np.float32)
    acts = _numpy_conv_same(x, k, b)
    _, logits, _ = _cam_reference(acts, w, c)
    seen = {}

    def least_likely(probabilities, extras):
        seen.update(probabilities=probabilities["toy"], features=extras[pool])
        return {"toy": np.argmin(probabilities["toy"], axis=1)}

    probs, maps, extras = grad_cam_pass(model, x, outputs=["toy"], extra_layers=[pool], class_index=least_likely,
                                        batch_size=3)
    np.testing.assert_allclose(seen["features"], acts.reshape(7, -1, n_filters).mean(axis=1), rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(seen["probabilities"], probs["toy"])
    for i, cls in enumerate(logits.argmin(axis=1)):
        exp_c, _, _ = _cam_reference(acts[i:i + 1], w, c, class_index=cls)
        np.testing.assert_allclose(maps["toy"][i:i + 1], exp_c, rtol=RTOL, atol=ATOL)
    with pytest.raises(ValueError, match="chose no class for outputs"):
        grad_cam_pass(model, x, outputs=["toy"], class_index=lambda p, e: {})
    with pytest.raises(ValueError, match="must lie in"):
        grad_cam_pass(model, x, outputs=["toy"], class_index=lambda p, e: {"toy": np.full(7, n_classes)})


def test_grad_cam_is_not_taken_through_the_softmax(rng):
    """The softmax gradient weights filters by w_c - sum_j p_j w_j: a different map, which we must not give."""
    spatial, n_filters, n_classes = (12, 12), 4, 3
    model = conv_gap_model(spatial, filters=n_filters, n_classes=n_classes)
    k, b, w, c = set_known_weights(model, rng, kernel_shape=(3, 3), n_filters=n_filters, n_classes=n_classes)
    x = rng.normal(size=(6, *spatial, 1)).astype(np.float32)
    acts = _numpy_conv_same(x, k, b)
    _, logits, cls = _cam_reference(acts, w, c)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    alpha_soft = p[np.arange(len(x)), cls][:, None] * (w[:, cls].T - p @ w.T)
    soft = _relu(np.einsum("nyxf,nf->nyx", acts, alpha_soft))
    soft /= np.maximum(soft.reshape(len(x), -1).max(1), 1e-30)[:, None, None]
    got = grad_cam(model, x, output="toy")
    assert np.abs(got - soft).max() > 0.05


def test_grad_cam_flatten_dense_uses_mean_gradient_of_weights(rng):
    """conv -> Flatten -> Dense: d y_c / d A[i, j, k] = W[(i, j, k), c]; alpha_k is its grid mean."""
    x_in = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(2, 3, padding="same", activation="relu", name="last_conv")(x_in)
    z = keras.layers.Dense(2, name="t_logits")(keras.layers.Flatten()(h))
    model = keras.Model(x_in, keras.layers.Activation("softmax", name="t")(z))
    k = rng.normal(size=(3, 3, 1, 2)).astype(np.float32)
    b = np.array([0.1, -0.1], np.float32)
    w = rng.normal(size=(8 * 8 * 2, 2)).astype(np.float32)
    model.get_layer("last_conv").set_weights([k, b])
    model.get_layer("t_logits").set_weights([w, np.zeros(2, np.float32)])
    x = rng.normal(size=(3, 8, 8, 1)).astype(np.float32)
    acts = _numpy_conv_same(x, k, b)
    alpha = w.reshape(8, 8, 2, 2).mean(axis=(0, 1))  # (F, classes)
    cam = _relu(np.einsum("nyxf,f->nyx", acts, alpha[:, 1]))
    cam /= cam.reshape(3, -1).max(1)[:, None, None]
    np.testing.assert_allclose(grad_cam(model, x, output="t", class_index=1), cam, rtol=RTOL, atol=ATOL)


def test_sigmoid_member_and_explicit_logits_layer(rng):
    """A one-vs-all member (Dense(1, sigmoid)) is explained on its pre-sigmoid score; naming the
    linear layer directly gives the same map as naming the task."""
    x_in = keras.Input((10, 10, 1))
    h = keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="last_conv")(x_in)
    g = keras.layers.GlobalAveragePooling2D()(h)
    member = keras.Model(x_in, keras.layers.Dense(1, activation="sigmoid", name="is_adult")(g))
    k = rng.normal(size=(3, 3, 1, 3)).astype(np.float32)
    b = rng.normal(scale=0.3, size=3).astype(np.float32)
    w = rng.normal(size=(3, 1)).astype(np.float32)
    member.get_layer("last_conv").set_weights([k, b])
    member.get_layer("is_adult").set_weights([w, np.zeros(1, np.float32)])
    x = rng.normal(size=(4, 10, 10, 1)).astype(np.float32)
    expected, _, _ = _cam_reference(_numpy_conv_same(x, k, b), w, np.zeros(1), class_index=0)
    np.testing.assert_allclose(grad_cam(member, x, output="is_adult"), expected, rtol=RTOL, atol=ATOL)

    model = conv_gap_model((10, 10), filters=3, n_classes=2)
    set_known_weights(model, rng, kernel_shape=(3, 3), n_filters=3, n_classes=2)
    np.testing.assert_array_equal(grad_cam(model, x, output="toy"), grad_cam(model, x, output="toy_logits"))


def test_sequential_model_works(rng):
    model = keras.Sequential([
        keras.Input((9, 9, 1)),
        keras.layers.Conv2D(2, 3, padding="same", activation="relu", name="last_conv"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(2, activation="softmax", name="out"),
    ])
    heat = grad_cam(model, rng.normal(size=(2, 9, 9, 1)), output="out")
    assert heat.shape == (2, 9, 9) and np.all((heat >= 0) & (heat <= 1))


@pytest.mark.parametrize("spatial", [(16, 16), (4, 16, 16)], ids=["2d", "3d"])
def test_strided_conv_map_is_upsampled_to_the_input_frame(rng, spatial):
    """A 2x2(x2) stride-2 valid conv: the coarse map, computed in numpy, upsampled pixel-centre aligned."""
    d = len(spatial)
    model = conv_gap_model(spatial, filters=3, n_classes=2, kernel=2, stride=2, padding="valid")
    k, b, w, c = set_known_weights(model, rng, kernel_shape=(2,) * d, n_filters=3, n_classes=2)
    x = rng.normal(size=(3, *spatial, 1)).astype(np.float32)
    # stride-2 2x2 valid conv == sum over the 2^d offsets of the strided sub-grids
    acts = np.zeros((3, *(s // 2 for s in spatial), 3))
    for off in np.ndindex(*(2,) * d):
        sub = x[(slice(None), *(slice(o, None, 2) for o in off), 0)]
        acts += sub[..., None] * k[(*off, 0)]
    acts = _relu(acts + b)
    coarse, _, _ = _cam_reference(acts, w, c)
    expected = ndi.zoom(coarse, (1, *(2,) * d), order=1, grid_mode=True, mode="nearest")
    expected /= expected.reshape(3, -1).max(axis=1).reshape((-1,) + (1,) * d)  # [0, 1] after upsampling
    got = grad_cam(model, x, output="toy")
    assert got.shape == (3, *spatial)
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("shape_in,shape_out", [((5, 7), (16, 9)), ((3, 4, 5), (6, 8, 15)), ((4, 4), (4, 4))])
def test_upsample_linear_matches_scipy_zoom(rng, shape_in, shape_out):
    maps = rng.random((2, *shape_in)).astype(np.float32)
    zoom = [1] + [o / i for o, i in zip(shape_out, shape_in, strict=True)]
    expected = ndi.zoom(maps, zoom, order=1, grid_mode=True, mode="nearest")
    got = upsample_linear(maps, shape_out)
    assert got.shape == (2, *shape_out) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_upsample_linear_matches_tf_image_resize(rng):
    import tensorflow as tf

    maps = rng.random((2, 6, 5)).astype(np.float32)
    ref = tf.image.resize(maps[..., None], (20, 11), method="bilinear").numpy()[..., 0]
    np.testing.assert_allclose(upsample_linear(maps, (20, 11)), ref, atol=1e-5)


def test_all_negative_evidence_gives_zeros(rng):
    """Every filter weighted negatively -> ReLU kills the map -> zeros, not NaN."""
    model = conv_gap_model((8, 8), filters=2, n_classes=2)
    model.get_layer("last_conv").set_weights([np.ones((3, 3, 1, 2), np.float32), np.ones(2, np.float32)])
    model.get_layer("toy_logits").set_weights([np.array([[-1.0, 1.0], [-1.0, 1.0]], np.float32), np.zeros(2, np.float32)])
    x = np.abs(rng.normal(size=(2, 8, 8, 1))).astype(np.float32)
    heat = grad_cam(model, x, output="toy", class_index=0)
    assert np.all(heat == 0)
    assert np.all(grad_cam(model, x, output="toy") > 0)  # class 1 (predicted) has evidence everywhere


def test_batch_size_does_not_change_the_maps(rng):
    model = conv_gap_model((8, 8), filters=3, n_classes=2)
    set_known_weights(model, rng, kernel_shape=(3, 3), n_filters=3, n_classes=2)
    x = rng.normal(size=(7, 8, 8, 1)).astype(np.float32)
    np.testing.assert_allclose(grad_cam(model, x, output="toy", batch_size=2),
                               grad_cam(model, x, output="toy", batch_size=32), rtol=1e-6, atol=1e-7)


def test_one_graph_serves_every_batch_size(rng):
    """A run's batches come in many sizes (the cells of a group of fields): each new size used to
    trace a new graph (0.4-0.9 s for the default's Grad-CAM pass on 2 cores)."""
    from ames_batch.xai import forward_pass
    from ames_batch.xai._graph import forward_function, pass_function

    model = conv_gap_model((8, 8), filters=3, n_classes=2)
    set_known_weights(model, rng, kernel_shape=(3, 3), n_filters=3, n_classes=2)
    for n in (7, 1, 3, 16, 5):
        x = rng.normal(size=(n, 8, 8, 1)).astype(np.float32)
        _, maps, _ = grad_cam_pass(model, x, outputs=["toy"], batch_size=4)
        probs, _ = forward_pass(model, x, outputs=["toy"], batch_size=4)
        assert maps["toy"].shape == (n, 8, 8) and probs["toy"].shape == (n, 2)
    assert pass_function(model, ("toy",), "last_conv", ()).experimental_get_tracing_count() == 1
    assert forward_function(model, ("toy",), ()).experimental_get_tracing_count() == 1


def test_bad_arguments_are_refused(rng):
    model = conv_gap_model((8, 8))
    x = rng.normal(size=(2, 8, 8, 1)).astype(np.float32)
    with pytest.raises(TypeError, match="keras.Model"):
        grad_cam("model", x, output="toy")
    with pytest.raises(TypeError, match="`inputs` must be an array"):
        grad_cam(model, "x.png", output="toy")
    with pytest.raises(ValueError, match="4 axes"):
        grad_cam(model, x[0], output="toy")
    with pytest.raises(ValueError, match="does not fit"):
        grad_cam(model, np.zeros((1, 9, 8, 1)), output="toy")
    with pytest.raises(ValueError, match="no layer 'nope'"):
        grad_cam(model, x, output="nope")
    with pytest.raises(ValueError, match="no layer 'conv9'"):
        grad_cam(model, x, output="toy", layer="conv9")
    with pytest.raises(ValueError, match="feature map"):
        grad_cam(model, x, output="toy", layer="toy_logits")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        grad_cam(model, x, output="toy", class_index=2)
    with pytest.raises(ValueError, match="one per sample"):
        grad_cam(model, x, output="toy", class_index=[0, 1, 0])
    with pytest.raises(ValueError, match="finite"):
        grad_cam(model, np.full((1, 8, 8, 1), np.nan), output="toy")
    with pytest.raises(ValueError, match="batch_size|>= 1"):
        grad_cam(model, x, output="toy", batch_size=0)
    relu_out = keras.Model(model.inputs, keras.layers.Activation("relu", name="r")(model.get_layer("toy_logits").output))
    with pytest.raises(ValueError, match="softmax or sigmoid"):
        grad_cam(relu_out, x, output="r")
