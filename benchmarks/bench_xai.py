"""Heatmap speed on CPU (Grad-CAM and Integrated Gradients, 2D and 3D) and, when the default model
exists, Grad-CAM localisation on held-out synthetic cells.

Figures (printed and written to ``benchmarks/results/xai.json``):

- per architecture (2D singular at the default 256 x 256 input, 3D singular at 16 x 160 x 160;
  untrained weights, which do not change the cost): one forward pass of a batch (the raw
  baseline, a compiled ``model(x)`` call), Grad-CAM of the same batch, IG of the same batch at
  `--steps` (default 64, Gauss-Legendre), each as heatmaps/s and as a ratio to the forward pass;
  Grad-CAM also run eagerly (``tf.GradientTape`` without ``tf.function``) and, when installed,
  with tf-keras-vis (same linear output), for comparison;
- localisation of the default model (``ames_batch/models/default``, if present): over held-out
  synthetic cells, the share of Grad-CAM mass inside the cell mask (in the model's input crop)
  against the cell's share of the crop; > 1 means the map concentrates on the cell; the same
  architecture untrained (seeded) is measured alongside as a reference.

Run: ``python benchmarks/bench_xai.py [--steps 64] [--skip-speed] [--cells 40] [--bundle DIR] [--out JSON]``.
"""

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from ames_batch.xai import grad_cam, ig_completeness_error, integrated_gradients  # noqa: E402

TASKS = {"sarcomerisation": ["1", "2", "3", "4"], "source": ["adult", "neonatal", "ipsc"]}
RESULTS = Path(__file__).resolve().parent / "results" / "xai.json"
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "ames_batch" / "models" / "default"


def best_of(fn, repeats: int = 3) -> float:
    """Fastest wall time of `repeats` calls (s), after one warm-up call (tracing)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def eager_grad_cam(model, task):
    """Plain eager Grad-CAM (same maths, no tf.function): the cost of skipping compilation."""
    import keras
    import tensorflow as tf

    sub = keras.Model(model.inputs, [model.get_layer("last_conv").output, model.get_layer(f"{task}_logits").output])

    def run(x):
        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            acts, logits = sub(x, training=False)
            score = tf.reduce_max(logits, axis=1)
        grads = tape.gradient(score, acts)
        weights = tf.reduce_mean(grads, axis=list(range(1, len(acts.shape) - 1)), keepdims=True)
        return tf.nn.relu(tf.reduce_sum(acts * weights, -1)).numpy()

    return run


def tf_keras_vis_grad_cam(model, task):
    """tf-keras-vis Grad-CAM on the same output (linear), or None when it is not installed."""
    try:
        from tf_keras_vis.gradcam import Gradcam
        from tf_keras_vis.utils.scores import CategoricalScore
    except ImportError:
        return None
    import keras

    single = keras.Model(model.inputs, model.get_layer(f"{task}_logits").output)  # linear already
    gc = Gradcam(single, clone=False)

    def run(x):
        cls = single.predict(x, verbose=0).argmax(1)
        return gc(CategoricalScore(list(cls)), x, penultimate_layer="last_conv")

    return run


def speed(arch: str, input_shape: tuple[int, ...], batch: int, steps: int, um_per_px: float, seed: int = 0) -> dict:
    import tensorflow as tf

    from ames_batch.nn import build_model

    model = build_model(arch, input_shape=input_shape, tasks=TASKS, seed=seed, um_per_px=um_per_px)
    rng = np.random.default_rng(seed)
    x = rng.random((batch, *input_shape, 1), dtype=np.float32)
    forward = tf.function(lambda t: model(t, training=False))
    t_fwd = best_of(lambda: [v.numpy() for v in forward(x).values()])
    t_gc = best_of(lambda: grad_cam(model, x, output="sarcomerisation"))
    eager = eager_grad_cam(model, "sarcomerisation")
    t_gc_eager = best_of(lambda: eager(x))
    tkv = tf_keras_vis_grad_cam(model, "sarcomerisation")
    t_tkv = best_of(lambda: tkv(x)) if tkv is not None else None
    t_ig = best_of(lambda: integrated_gradients(model, x, output="sarcomerisation", steps=steps), repeats=1)
    attr = integrated_gradients(model, x, output="sarcomerisation", steps=steps)
    err = ig_completeness_error(model, x, attr, output="sarcomerisation")
    out = {
        "arch": arch, "input_shape": list(input_shape), "um_per_px": um_per_px, "batch": batch, "ig_steps": steps,
        "forward_s": t_fwd, "grad_cam_s": t_gc, "grad_cam_eager_s": t_gc_eager, "ig_s": t_ig,
        "forward_per_s": batch / t_fwd, "grad_cam_per_s": batch / t_gc, "ig_per_s": batch / t_ig,
        "grad_cam_over_forward": t_gc / t_fwd, "grad_cam_eager_over_compiled": t_gc_eager / t_gc,
        "ig_over_forward": t_ig / t_fwd,
        "tf_keras_vis_grad_cam_s": t_tkv, "tf_keras_vis_over_ours": None if t_tkv is None else t_tkv / t_gc,
        "ig_completeness_error_max": float(err.max()),
    }
    print(f"{arch} {input_shape} batch {batch}: forward {batch / t_fwd:.1f}/s | Grad-CAM "
          f"{batch / t_gc:.2f} maps/s ({t_gc / t_fwd:.1f}x forward; eager {t_gc_eager / t_gc:.2f}x slower) | "
          f"IG {steps} steps {batch / t_ig:.3f} maps/s ({t_ig / t_fwd:.0f}x forward), completeness err "
          f"<= {err.max():.1e}" + ("" if t_tkv is None else f" | tf-keras-vis Grad-CAM {t_tkv / t_gc:.1f}x slower"))
    return out


def _heatmaps(rating, cells) -> list[dict]:
    """Per cell, {task: crop-frame Grad-CAM of the predicted class} (ensemble: the winning member),
    and {"<task>_class": predicted class index}."""
    out = []
    for x, _ in cells:
        maps = {}
        for task in rating.tasks:
            target = rating.explain_target(task)
            probs = rating.predict(x[None])[task][0]
            model, unit = target.for_class(int(probs.argmax()))
            maps[task] = grad_cam(model, x[None], output=target.logits_layer, class_index=unit)[0]
            maps[f"{task}_class"] = int(probs.argmax())
        out.append(maps)
    return out


def _share(heat: np.ndarray, part: np.ndarray, whole: np.ndarray | None = None) -> float:
    """Share of the map's mass (within `whole`, default everywhere) that lies in `part`; NaN if empty."""
    total = heat.sum() if whole is None else heat[whole].sum()
    return float(heat[part].sum() / total) if total > 0 else np.nan


def _organised_region(maps: dict, cells, um_per_px: float) -> dict:
    """Within the cell: does sarcomerisation Grad-CAM sit where the predicted class says?

    A cell rated 3-4 should be explained by its organised part, one rated 1-2 by its disorganised
    part. The organised part is `ames_batch.metrics.organised_map` of the model input (a comb
    test, independent of the network). Per cell: the map's mass on the class's part divided by
    that part's share of the cell (1 = no preference). Cells whose organised share is < 0.1 or
    > 0.9 are left out (nothing to tell apart).
    """
    from ames_batch.metrics import organised_map

    regions = [organised_map(x[..., 0], mask, um_per_px)[0] for x, mask in cells]
    usable = [i for i, (r, (_, mask)) in enumerate(zip(regions, cells)) if 0.1 <= r[mask].mean() <= 0.9]
    area = np.array([regions[i][cells[i][1]].mean() for i in usable])
    out = {"n_cells": len(usable), "organised_share_of_cell_mean": float(area.mean()) if usable else None}
    for name, per_cell in maps.items():
        ratios = []
        for k, i in enumerate(usable):
            mask, high = cells[i][1], per_cell[i]["sarcomerisation_class"] >= 2  # classes "3" and "4"
            part = regions[i] if high else ~regions[i] & mask
            ratios.append(_share(per_cell[i]["sarcomerisation"], part, mask) / (area[k] if high else 1 - area[k]))
        ratios = np.array(ratios)
        ok = np.isfinite(ratios)
        out[name] = {"ratio_per_cell_mean": float(ratios[ok].mean()) if ok.any() else None,
                     "ratio_above_1": float((ratios[ok] > 1).mean()) if ok.any() else None,
                     "empty_maps": int((~ok).sum())}
    if usable:
        t, u = out["trained"], out["untrained"]
        print(f"within the cell ({len(usable)} cells): sarcomerisation Grad-CAM on the part its class names "
              f"(organised for 3-4, disorganised for 1-2) / that part's share: {t['ratio_per_cell_mean']:.2f} "
              f"(> 1 in {t['ratio_above_1']:.0%} of cells; untrained {u['ratio_per_cell_mean']:.2f})")
    return out


def localisation(bundle: Path, n_cells: int, seed: int) -> dict:
    """Grad-CAM mass inside the cell (crop frame) vs the cell's area share, held-out synthetic cells.

    The same figure for the same architecture untrained (seeded) is given as a reference: an
    untrained net's map already follows the stain, so the trained model should beat it.
    """
    from ames_batch.nn import RatingModel, build_model, cell_input_2d, load_bundle
    from ames_batch.synth import DEMO_SCALE_UM, synthesize_field

    rating = load_bundle(bundle)
    if rating.arch == "3d":
        raise SystemExit("localisation: only 2D default models are handled here")
    first = rating.keras_model or next(iter(next(iter(rating.members.values())).values()))
    tuned = "striation_filters" in {layer.name for layer in first.layers}
    untrained = RatingModel(build_model(rating.arch, input_shape=rating.settings.input_shape, tasks=rating.tasks,
                                        seed=seed, um_per_px=rating.settings.target_um_per_px if tuned else None),
                            tasks=rating.tasks, settings=rating.settings)
    cells, share = [], []
    rng = np.random.default_rng(seed)  # far from any training seed
    while len(cells) < n_cells:
        field = synthesize_field(rng, n_cells=2, scale_um=DEMO_SCALE_UM)
        mip = field.stack.max(axis=0)
        for cell in field.cells:
            x, geo = cell_input_2d(mip, field.cell_labels == cell.label, field.scale_um["x"], rating.settings)
            cells.append((x, geo.extra["crop_mask"]))
            share.append(geo.extra["crop_mask"].mean())
    share = np.array(share)
    maps = {"trained": _heatmaps(rating, cells), "untrained": _heatmaps(untrained, cells)}
    out = {"bundle": str(bundle), "n_cells": len(cells), "seed": seed, "cell_share_of_crop_mean": float(share.mean())}
    out["organised_region"] = _organised_region(maps, cells, rating.settings.target_um_per_px)
    for task in rating.tasks:
        fig = {}
        for name in ("trained", "untrained"):
            inside = np.array([_share(m[task], mask) for m, (_, mask) in zip(maps[name], cells)])
            ok = np.isfinite(inside)
            fig[name] = {
                "empty_maps": int((~ok).sum()),
                "gradcam_mass_in_cell_mean": float(inside[ok].mean()) if ok.any() else None,
                "cell_share_of_crop_mean": float(share[ok].mean()) if ok.any() else None,
                "ratio_per_cell_mean": float(np.mean(inside[ok] / share[ok])) if ok.any() else None,
            }
        out[task] = fig
        t, u = fig["trained"], fig["untrained"]
        if t["gradcam_mass_in_cell_mean"] is None:
            print(f"localisation {task}: every map empty (no positive evidence at the conv layer)")
            continue
        print(f"localisation {task}: {t['gradcam_mass_in_cell_mean']:.2f} of Grad-CAM mass in the cell, "
              f"cell = {t['cell_share_of_crop_mean']:.2f} of the crop (per-cell ratio {t['ratio_per_cell_mean']:.2f}; "
              f"untrained {u['ratio_per_cell_mean'] if u['ratio_per_cell_mean'] is None else round(u['ratio_per_cell_mean'], 2)}), "
              f"{t['empty_maps']} of {len(cells)} maps empty")
    return out


def mip_agreement(n_cells: int, seed: int) -> dict:
    """Shipped 3D vs 2D default: rank agreement of the 3D Grad-CAM's z-MIP with the 2D Grad-CAM.

    Held-out synthetic cells, directionality, each model's predicted class; the 3D map's max over
    z is resampled onto the 2D grid (both windows are 48 µm). Reference: the 3D map of another cell.
    """
    from scipy.ndimage import zoom
    from scipy.stats import spearmanr

    from ames_batch.nn import cell_input_2d, cell_input_3d, load_bundle
    from ames_batch.pipeline import default_model_path
    from ames_batch.synth import DEMO_SCALE_UM, synthesize_field

    r2, r3 = load_bundle(default_model_path("2d")), load_bundle(default_model_path("3d"))
    rng = np.random.default_rng(seed)
    maps = []
    for _ in range(n_cells):
        field = synthesize_field(rng, n_cells=1, scale_um=DEMO_SCALE_UM)
        mask = field.cell_labels == field.cells[0].label
        x2, geo = cell_input_2d(field.stack.max(axis=0), mask, field.scale_um["x"], r2.settings)
        x3, _ = cell_input_3d(field.stack, mask, field.scale_um, r3.settings)
        heat = []
        for rating, x in ((r2, x2), (r3, x3)):
            cls = int(rating.predict(x[None])["directionality"][0].argmax())
            heat.append(grad_cam(rating.keras_model, x[None], output="directionality_logits", class_index=cls)[0])
        mip = zoom(heat[1].max(axis=0), np.divide(heat[0].shape, heat[1].shape[1:]), order=1)
        maps.append((heat[0], mip, geo.extra["crop_mask"]))
    rho = np.array([spearmanr(a[m], b[m])[0] for a, b, m in maps])
    other = np.array([spearmanr(maps[i][0][maps[i][2]], maps[i - 1][1][maps[i][2]])[0] for i in range(len(maps))])
    out = {"n_cells": n_cells, "seed": seed, "task": "directionality",
           "spearman_median": float(np.nanmedian(rho)), "spearman_iqr": np.nanpercentile(rho, [25, 75]).tolist(),
           "other_cell_spearman_median": float(np.nanmedian(other))}
    print(f"3D Grad-CAM MIP vs 2D Grad-CAM in the cell ({n_cells} cells): Spearman median {out['spearman_median']:.2f} "
          f"(IQR {out['spearman_iqr'][0]:.2f} to {out['spearman_iqr'][1]:.2f}); another cell's map "
          f"{out['other_cell_spearman_median']:.2f}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--cells", type=int, default=40)
    parser.add_argument("--bundle", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    import tensorflow as tf

    # a partial run (--skip-speed) keeps the other figures of the previous run
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    results["machine"] = {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                          "tensorflow": tf.__version__}
    if not args.skip_speed:
        # the shipped models' architectures and input shapes (docs/models.md)
        results["speed"] = [speed("2d", (160, 160), 16, args.steps, um_per_px=0.3),
                            speed("3d", (8, 120, 120), 4, args.steps, um_per_px=0.4)]
    if (args.bundle / "model.json").exists():
        results["localisation"] = localisation(args.bundle, args.cells, seed=90_210)
        results["mip_agreement_3d_2d"] = mip_agreement(24, seed=90_210)
    else:
        print(f"localisation: no model bundle at {args.bundle}; skipped")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
