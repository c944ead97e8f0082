"""Texture-family ablation on the *tuning* photo: each variant trained for the same number of steps,
its last checkpoint exported and scored by ``ganforge eval``'s texture report, and a picture row.

This is where the family's defaults were chosen; ``bench_texture.py`` then measures them on
photos never used here. Variants (model options / training options over the CLI defaults):

    default        the defaults: D-feature statistics + noise maps, no augmentation (session 9 on;
                   earlier sessions' "default" rows had colour + cutout, now ``color-cutout``)
    zero-noise     noise strengths start at zero (StyleGAN's init) instead of std 0.1
    zero-noise-4-scales  that, and the pixels' colours compared at 4 scales (1, 1/2, 1/4, 1/8)
    laplacian-4    the pixels compared as 4 Laplacian-pyramid bands, each normalised by the real spread
    laplacian-4-zero-noise  that, with noise strengths from zero
    patch5-3-scales  the pixels compared as 5×5 patches at 3 scales (image, 1/2, 1/4), with D's features
    patch5-3-scales-only  the same patches without D's features
    stride8        a latent cell per 8×8 pixels (3 generator stages) instead of 16×16
    stride8-patch5 that, and the 5×5 patches at 3 scales
    noise0.5, noise1  noise strengths drawn with std 0.5 / 1 (default 0.1): grain as loud as the signal
    noise-lr10     the noise strengths learn 10x faster than the rest of G
    stride8-noise-lr10  that, at stride 8
    stats-w10      the statistics term at 10× the weight (distribution matching over the adversarial loss)
    no-augment     no differentiable augmentation (the default since session 9)
    ref64, ref32   the statistics term compares the fakes with 64 / 32 real crops, not the D batch of 8
    pixel-ref64, pixel-ref256  only the term's pixel level against 64 / 256 real crops; D's features
                   against the D batch as before (``pixel_reference``)
    lecam0.1, lecam0.3  the LeCam term in D's loss at weight 0.1 / 0.3 (``lecam``)
    color-cutout   colour and cutout DiffAugment on D's inputs (the default before session 9)
    random-stats   random-CNN statistics, redrawn each step (the previous default) + noise maps
    random-ref64   that, against 64 real crops instead of the D batch
    random-nonoise random-CNN statistics, no noise maps (the family before noise maps)
    random-fixed   random-CNN statistics from one fixed filter bank
    random-w0.1    random-CNN statistics at a tenth of the weight
    adversarial    no statistics term at all
    adversarial-lr1e-3   no statistics term, learning rates 1e-3 (G and D)
    random-stats-lr1e-3  random-CNN statistics, learning rates 1e-3

Variants run two at a time, one thread each (``--parallel 1`` runs them one by one).

    python benchmarks/ablate_texture.py [--photo chelsea] [--steps 600] [--variants default,adversarial]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SHARED = HERE.parent.parent / "shared" / "data" / "texture"

VARIANTS: dict[str, tuple[dict, dict]] = {
    "default": ({}, {}),
    "zero-noise": ({"noise_init": 0.0}, {}),
    "zero-noise-4-scales": ({"noise_init": 0.0, "stats_scales": 4}, {}),
    "laplacian-4": ({"stats_scales": 4, "stats_pyramid": "laplacian"}, {}),
    "laplacian-4-zero-noise": ({"stats_scales": 4, "stats_pyramid": "laplacian", "noise_init": 0.0}, {}),
    "patch5-3-scales": ({"stats_scales": 3, "stats_patch": 5}, {}),
    "patch5-3-scales-only": ({"stats_scales": 3, "stats_patch": 5, "stats_features": "pixels"}, {}),
    "stride8": ({"stages": 3}, {}),
    "stride8-patch5": ({"stages": 3, "stats_scales": 3, "stats_patch": 5}, {}),
    "noise0.5": ({"noise_init": 0.5}, {}),
    "noise1": ({"noise_init": 1.0}, {}),
    "noise-lr10": ({"noise_lr": 10.0}, {}),
    "stride8-noise-lr10": ({"stages": 3, "noise_lr": 10.0}, {}),
    "stats-w10": ({"stats_weight": 10.0}, {}),
    "no-augment": ({"augment": []}, {}),
    "ref64": ({"stats_reference": 64}, {}),
    "ref32": ({"stats_reference": 32}, {}),
    "pixel-ref64": ({"pixel_reference": 64}, {}),
    "pixel-ref256": ({"pixel_reference": 256}, {}),
    "lecam0.1": ({"lecam": 0.1}, {}),
    "lecam0.3": ({"lecam": 0.3}, {}),
    "color-cutout": ({"augment": ["color", "cutout"]}, {}),
    "random-stats": ({"stats_features": "random"}, {}),
    "random-ref64": ({"stats_features": "random", "stats_reference": 64}, {}),
    "random-nonoise": ({"stats_features": "random", "noise_dim": 0}, {}),
    "random-fixed": ({"stats_features": "random", "stats_redraw": False}, {}),
    "random-w0.1": ({"stats_features": "random", "stats_weight": 0.1}, {}),
    "adversarial": ({"stats_weight": 0.0}, {}),
    "adversarial-lr1e-3": ({"stats_weight": 0.0}, {"lr_g": 1e-3, "lr_d": 1e-3}),
    "random-stats-lr1e-3": ({"stats_features": "random"}, {"lr_g": 1e-3, "lr_d": 1e-3}),
}


def sparse_objects(size: int = 512, seed: int = 0) -> np.ndarray:
    """A synthetic tuning image for one failure: sparse, small, bright, coloured objects on a
    dark ground (~8% of the pixels), the kind of photo where a model drops the rare objects and
    keeps the ground. Made here, so no benchmark photo is tuned on."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    img = np.full((size, size, 3), 0.03, np.float32) + rng.normal(0, 0.01, (size, size, 3)).astype(np.float32)
    for _ in range(90):
        cy, cx = rng.uniform(0, size, 2)
        r = rng.uniform(1.0, 7.0)
        colour = rng.uniform(0.2, 1.0, 3)
        dy = np.minimum(np.abs(yy - cy), size - np.abs(yy - cy))  # wraps: the image is a texture
        dx = np.minimum(np.abs(xx - cx), size - np.abs(xx - cx))
        img += np.exp(-(dy ** 2 + dx ** 2) / (2 * r ** 2))[..., None] * colour
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def patchwork(size: int = 512, seed: int = 0) -> np.ndarray:
    """A synthetic tuning image for the long-run failure (a photo whose crops differ: cup here,
    beans there, and the model ends as one even "average" surface): blobby regions of three
    tinted grey textures scikit-image ships (brick red, grass green, gravel blue-grey, in shares
    of about 55/30/15%), so most 64-px crops see one region. Made here, so no benchmark photo
    is tuned on."""
    from scipy.ndimage import gaussian_filter
    from skimage import data as skdata

    rng = np.random.default_rng(seed)
    fields = np.stack([gaussian_filter(rng.normal(size=(size, size)), 24, mode="wrap") for _ in range(3)])
    fields /= fields.std(axis=(1, 2), keepdims=True)
    region = np.argmax(fields + np.array([0.45, 0.0, -0.45])[:, None, None], axis=0)
    tints = np.array([[0.75, 0.35, 0.25], [0.35, 0.65, 0.25], [0.45, 0.55, 0.8]], np.float32)
    img = np.zeros((size, size, 3), np.float32)
    for k, name in enumerate(("brick", "grass", "gravel")):
        grey = np.asarray(getattr(skdata, name)(), np.float32)[:size, :size] / 255.0
        img[region == k] = (0.25 + 0.9 * grey[..., None] * tints[k])[region == k]
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def photo_path(name: str, folder: Path) -> Path:
    """A scikit-image photo by function name, a greyscale one from ``../shared``, ``sparse``
    (:func:`sparse_objects`) or ``patchwork`` (:func:`patchwork`)."""
    if (SHARED / f"{name}.png").is_file():
        return SHARED / f"{name}.png"
    from PIL import Image

    path = folder / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    if name in ("sparse", "patchwork"):
        Image.fromarray(sparse_objects() if name == "sparse" else patchwork()).save(path)
        return path
    from skimage import data as skdata

    Image.fromarray(np.asarray(getattr(skdata, name)())[..., :3]).save(path)
    return path


def run_variant(name: str, photo: Path, steps: int, work: Path, session: str = "") -> dict:
    """Train, export the last checkpoint, score; in this process."""
    sys.path.insert(0, str(HERE))
    from bench_texture import default_config, texture_row

    from ganforge.core.commands.eval import evaluate_pack
    from ganforge.core.training.run import train
    from ganforge.exporters.onnx.export import export_pack

    model, training = VARIANTS[name]
    cfg = default_config(photo, work / name, minutes=None)
    cfg.steps, cfg.model, cfg.sample_every = steps, dict(model), 10**9
    for key, value in training.items():
        setattr(cfg, key, value)
    t = time.perf_counter()
    train(cfg, resume=False, progress=False)
    seconds = time.perf_counter() - t
    pack = work / f"{name}.onnx"
    export_pack(work / name, pack, checkpoint="last")
    scores = evaluate_pack(pack, photo, samples=128, seed=0)
    RESULTS.mkdir(exist_ok=True)
    # the first tuning photo's rows keep their old names (RESULTS.md links them)
    tag = name if photo.stem == "chelsea" else f"{photo.stem}_{name}"
    tag = f"{session}_{tag}" if session else tag  # a later session's rows do not overwrite earlier ones
    texture_row(photo, [pack], RESULTS / f"texture_ablation_{tag}.png")
    return {"variant": name, "model": model, "training": training, "steps": steps,
            "train_seconds": round(seconds, 1), "steps_per_second": round(steps / seconds, 2),
            "swd": scores["swd"], "kid": scores["kid"], "pixel_std": scores["pixel_std"],
            "reference_pixel_std": scores["reference_pixel_std"], "baselines": scores["baselines"],
            "load_avg_1min_after": round(os.getloadavg()[0], 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photo", default="chelsea", help="the tuning photo (scikit-image name or ../shared grey one)")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--parallel", type=int, default=2, help="variants trained at once, one thread each")
    ap.add_argument("--json", type=Path, default=RESULTS / "texture_ablation.json")
    ap.add_argument("--session", default="", help="prefix of the picture names (s10: texture_ablation_s10_...)")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one variant, print its JSON
    ap.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_variant(args.one, Path(args.photo), args.steps, args.work, args.session)))
        return
    work = Path(tempfile.mkdtemp(prefix="ablate-texture-"))
    photo = photo_path(args.photo, work)
    names = [v for v in args.variants.split(",") if v]
    unknown = set(names) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variant(s) {', '.join(sorted(unknown))}; known: {', '.join(VARIANTS)}")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"} if args.parallel > 1 else None
    rows = []
    for start in range(0, len(names), args.parallel):
        procs = [subprocess.Popen([sys.executable, __file__, "--one", name, "--photo", str(photo), "--steps",
                                   str(args.steps), "--work", str(work), "--session", args.session], stdout=subprocess.PIPE, env=env, text=True)
                 for name in names[start:start + args.parallel]]
        for proc in procs:
            out, _ = proc.communicate()
            if proc.returncode:
                raise SystemExit(f"a variant failed (exit {proc.returncode})")
            row = json.loads(out.strip().splitlines()[-1])
            b = row["baselines"]
            print(f"{row['variant']:15s} swd {row['swd']:.3f} kid {row['kid']:.4f} std {row['pixel_std']:.3f}"
                  f"  [real {b['real']['swd']:.3f} shuffle64 {b['shuffle64']['swd']:.3f} "
                  f"shuffle32 {b['shuffle32']['swd']:.3f} flat {b['flat']['swd']:.3f}]  "
                  f"{row['steps_per_second']} steps/s", flush=True)
            rows.append(row)
    report = {"photo": args.photo, "steps": args.steps, "parallel": args.parallel,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "variants": rows}
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
