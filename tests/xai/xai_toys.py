"""Builders of small real Keras models and toy data for the xai tests (imported by the tests)."""

import numpy as np


def conv_gap_model(spatial, *, filters=3, n_classes=2, kernel=3, stride=1, padding="same", task="toy"):
    """Input -> Conv(last_conv, relu) -> global average pool -> Dense '<task>_logits' -> softmax '<task>'.

    The ames_batch.nn naming convention; 2D when `spatial` has 2 entries, 3D with 3.
    """
    import keras

    conv = {2: keras.layers.Conv2D, 3: keras.layers.Conv3D}[len(spatial)]
    gap = {2: keras.layers.GlobalAveragePooling2D, 3: keras.layers.GlobalAveragePooling3D}[len(spatial)]
    x = keras.Input((*spatial, 1))
    h = conv(filters, kernel, strides=stride, padding=padding, activation="relu", name="last_conv")(x)
    z = keras.layers.Dense(n_classes, name=f"{task}_logits")(gap()(h))
    return keras.Model(x, keras.layers.Activation("softmax", name=task)(z))


def set_known_weights(model, rng, *, kernel_shape, n_filters, n_classes):
    """Give `model` (from conv_gap_model) seeded random weights and return them as numpy arrays."""
    k = rng.normal(size=(*kernel_shape, 1, n_filters)).astype(np.float32)
    b = rng.normal(scale=0.3, size=n_filters).astype(np.float32)
    w = rng.normal(size=(n_filters, n_classes)).astype(np.float32)
    c = rng.normal(scale=0.1, size=n_classes).astype(np.float32)
    model.get_layer("last_conv").set_weights([k, b])
    model.get_layer(next(layer.name for layer in model.layers if layer.name.endswith("_logits"))).set_weights(
        [w, c]
    )
    return k, b, w, c
