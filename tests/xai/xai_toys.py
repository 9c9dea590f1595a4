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


def toy_cells(rng, n, *, size=32, depth=None, z_slices=None, patch=12, period_px=4.0):
    """Planted-evidence toy task: a striped patch (class 1) or a smooth blob (class 0) on noise.

    The patch sits at a random place; its mask is where the evidence is. With `depth`, the stack
    is (depth, size, size) and the patch fills the z-slices in `z_slices` (a slice; default the
    middle half), noise elsewhere, so its max projection is the 2D picture.

    Returns
    -------
    x : (n, [depth,] size, size, 1) float32
    y : (n,) int, 1 = stripes
    masks : (n, size, size) bool, the patch footprint in y/x
    """
    y = rng.integers(0, 2, n)
    yy, xx = np.mgrid[:patch, :patch]
    stripes = 0.5 + 0.5 * np.cos(2 * np.pi * yy / period_px)
    blob = np.exp(-((yy - patch / 2 + 0.5) ** 2 + (xx - patch / 2 + 0.5) ** 2) / (2 * (patch / 4) ** 2))
    blob *= stripes.mean() / blob.mean()  # same mean brightness: only texture tells them apart
    shape = (n, size, size) if depth is None else (n, depth, size, size)
    x = np.abs(rng.normal(0, 0.15, shape))
    masks = np.zeros((n, size, size), bool)
    for i in range(n):
        r, c = rng.integers(2, size - patch - 2, 2)
        masks[i, r : r + patch, c : c + patch] = True
        pattern = stripes if y[i] else blob
        if depth is None:
            x[i, r : r + patch, c : c + patch] += pattern
        else:
            zs = z_slices if z_slices is not None else slice(depth // 4, depth // 4 + depth // 2)
            x[i, zs, r : r + patch, c : c + patch] += pattern
    return x[..., None].astype(np.float32), y, masks


def toy_classifier(spatial, *, seed=0, task="toy"):
    """Small Conv -> pool -> Conv('last_conv') -> GAP -> '<task>_logits' -> softmax, seeded."""
    import keras

    d = len(spatial)
    conv = {2: keras.layers.Conv2D, 3: keras.layers.Conv3D}[d]
    pool = {2: keras.layers.MaxPooling2D, 3: keras.layers.MaxPooling3D}[d]
    gap = {2: keras.layers.GlobalAveragePooling2D, 3: keras.layers.GlobalAveragePooling3D}[d]
    init = keras.initializers.GlorotUniform
    x = keras.Input((*spatial, 1))
    h = conv(8, 3, padding="same", activation="relu", kernel_initializer=init(seed), name="conv1")(x)
    h = pool(2)(h)
    h = conv(16, 3, padding="same", activation="relu", kernel_initializer=init(seed + 1), name="last_conv")(h)
    z = keras.layers.Dense(2, kernel_initializer=init(seed + 2), name=f"{task}_logits")(gap()(h))
    return keras.Model(x, keras.layers.Activation("softmax", name=task)(z))


def train_toy(model, x, y, *, epochs=8, seed=0):
    """Fit `model` (from toy_classifier) on the toy task, deterministically seeded."""
    import keras

    keras.utils.set_random_seed(seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0, shuffle=True)
    return model
