"""Image modality benchmark: ganforge and conditional baselines under the same rules.

Every model — ganforge's families (``--ganforge-family``: ``fastgan``, the default, and
``stylish``, each at its recipe in ``FAMILY_RECIPES``), a conditional DCGAN and a FastGAN-lite
(:mod:`image_baselines`), the baselines each at their published learning rate and at
``--budget-lr`` — gets:

- **the same data**: twemoji (``../shared/data/image/twemoji64.npz``; ``--dataset lfw``:
  scikit-image's faces / non-faces, a second set nobody tuned on) split once, stratified by
  category and seeded, into train 80% / validation 10% / test 10%; ``10pct`` trains on a seeded
  stratified tenth of the train split (at least 2 images per category). Every model reads the
  same written ``.npz`` through ganforge's reader (fit ``pad``, premultiplied alpha, ``--size``).
- **the same budget and seed**: ``--minutes`` of wall-clock training each (10, 30 or 60;
  ``--seconds`` for smoke runs), seed 0, each in its own process with **one thread**; ``--parallel``
  of them train side by side (default 2, the machine's cores), which the report records.
- **the same model-selection rule**: each run saves generator snapshots (EMA where the recipe has
  one) every ``budget / --snapshots`` seconds and at the end; afterwards every snapshot is scored on
  the *validation* split by :func:`ganforge.core.metrics.categories.guarded_kid` (KID plus the
  collapse penalty on the worst category's variety: ganforge's own best-checkpoint rule), and
  the lowest is the model's result. Only that snapshot is scored on the *test* split. ganforge's
  is exported to an ONNX pack and sampled through the torch-free runtime, as a user gets it.
- **the same measures** on the test split, samples in its category mix: KID, FD, SWD;
  recognisability (a linear probe fitted on the train split; its balanced accuracy on test
  images is the ceiling), variety inside categories, density/coverage, each beside test real
  images' value; memorisation against the images that model trained on, beside what fresh real
  data (the test images) reads.
- **the machine's load, measured**: per wave of side-by-side runs, ``os.getloadavg`` before,
  during (every 5 s) and after, the whole machine's busy CPU seconds from ``/proc/stat``, the
  shares of CPU time busy, stolen by the host (a VM's cores lent elsewhere: fewer steps in the
  same minutes, invisible in the load average) and idle, and each run's own CPU seconds against
  its wall seconds.

Usage::

    python benchmarks/bench_image.py --minutes 30                       # the real run (hours)
    python benchmarks/bench_image.py --seconds 20 --samples 200 --settings full \\
        --out /tmp/image_smoke.json                                     # smoke run
    python benchmarks/bench_image.py --report [--out FILE]              # RESULTS.md table
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, cpu_seconds, cpu_share, machine  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "image" / "twemoji64.npz"
SPLIT_SEED, SELECT_SEED, TEST_SEED, GRID_SEED = 0, 11, 12, 13
Sampler = Callable[[np.ndarray, int], np.ndarray]  # (labels, seed) -> straight-alpha images


# ---- data ----------------------------------------------------------------------------------------
def split(labels: np.ndarray, val: float = 0.1, test: float = 0.1) -> dict[str, np.ndarray]:
    """Stratified, seeded train/val/test indices (a category too small for a tenth stays in train)."""
    rng = np.random.Generator(np.random.PCG64(SPLIT_SEED))
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for k in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == k))
        nv, nt = int(round(len(idx) * val)), int(round(len(idx) * test))
        parts["val"].append(idx[:nv])
        parts["test"].append(idx[nv:nv + nt])
        parts["train"].append(idx[nv + nt:])
    return {name: np.sort(np.concatenate(p)) for name, p in parts.items()}


def subset(idx: np.ndarray, labels: np.ndarray, fraction: float) -> np.ndarray:
    """A seeded stratified ``fraction`` of ``idx``, at least 2 per category (the reader drops a
    category with fewer, which would renumber the labels)."""
    if fraction >= 1:
        return idx
    rng = np.random.Generator(np.random.PCG64(SPLIT_SEED + 1))
    keep = [rng.permutation(idx[labels[idx] == k])[:max(2, int(round(fraction * np.sum(labels[idx] == k))))]
            for k in np.unique(labels[idx])]
    return np.sort(np.concatenate(keep))


def source(name: str, work: Path) -> Path:
    """The benchmark's data set as an .npz: ``twemoji`` (``../shared/data``, the set the models
    were developed on) or ``lfw``, a second one nobody tuned on that every install has offline:
    scikit-image's ``lfw_subset`` (100 grey 25×25 faces from Labeled Faces in the Wild and 100
    non-face patches of the same photos; categories ``face`` / ``not face``)."""
    if name == "twemoji":
        return DATA
    from skimage import data as skdata

    images = (np.clip(skdata.lfw_subset(), 0, 1) * 255 + 0.5).astype(np.uint8)
    path = work / "lfw_source.npz"
    np.savez(path, images=images, labels=np.repeat([0, 1], [100, len(images) - 100]),
             categories=np.array(["face", "not face"]))
    return path


def prepare(work: Path, size: int, fraction: float, tag: str, dataset: str = "twemoji") -> dict[str, Any]:
    """Write the training .npz of a setting; return the split sets as ImageSets at ``size``."""
    from ganforge.core.modalities.image.io import read_dataset

    raw = np.load(source(dataset, work))
    labels = raw["labels"].astype(np.int64)
    parts = split(labels)
    parts["train_used"] = subset(parts["train"], labels, fraction)
    sets = {}
    for name, idx in parts.items():
        path = work / f"{dataset}_{name}{'_' + tag if name == 'train_used' else ''}.npz"
        np.savez(path, images=raw["images"][idx], labels=labels[idx], categories=raw["categories"])
        sets[name] = read_dataset(path, size, "pad", warn=lambda m: None)
        sets[name + "_path"] = path
    return sets


# ---- one training run (child process, one thread) ------------------------------------------------
#: each ganforge family's settings in the benchmark: ``stylish`` at the rates it was tuned with,
#: ``fastgan`` at FastGAN's published recipe (lr 2e-4, batch 8; its betas are the family's own)
FAMILY_RECIPES: dict[str, dict[str, Any]] = {
    "stylish": {"lr": 2e-3, "batch": 32, "r1_gamma": 0.1, "r1_every": 16,
                "model": {"channel_base": 512, "channel_max": 128, "d_channel_base": 512, "d_channel_max": 128}},
    "fastgan": {"lr": 2e-4, "batch": 8, "model": {}},
}


def ganforge_config(data: Path, out: Path, size: int, budget_s: float, snapshot_s: float,
                    family: str = "stylish", batch: int | None = None) -> dict[str, Any]:
    from ganforge.core.training.config import UNBOUNDED_STEPS

    recipe = FAMILY_RECIPES[family]
    engine = {k: recipe[k] for k in ("r1_gamma", "r1_every") if k in recipe}
    return dict(modality="image", family=family, data=str(data), out=str(out), steps=UNBOUNDED_STEPS, crop=size,
                batch=batch or recipe["batch"], seed=0, device="cpu", lr_g=recipe["lr"], lr_d=recipe["lr"],
                augment=["translate", "color", "cutout"], log_every=50, minutes=budget_s / 60,
                # snapshots by time, all kept; no in-training evaluation (the harness selects for
                # every model alike, after training), so no model spends its budget on scoring
                sample_every=10**12, checkpoint_every=10**12, checkpoint_minutes=snapshot_s / 60, keep_last=10**6,
                data_options={"fit": "pad"}, model={"eval_samples": 256, **recipe["model"]}, **engine)


def family_class(name: str) -> Any:
    from ganforge.core import plugins
    from ganforge.core.components import resolve

    return resolve(plugins.family("image", name).factory)


def child(spec: dict[str, Any]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    cpu0, wall0 = time.process_time(), time.monotonic()
    out = Path(spec["out"])
    if spec["model"] == "ganforge":
        from ganforge.core.modalities.image.data import build_dataset
        from ganforge.core.training.config import TrainConfig
        from ganforge.core.training.run import train

        family = spec.get("family", "stylish")
        cfg = TrainConfig(**ganforge_config(Path(spec["data"]), out, spec["size"], spec["budget_s"],
                                            spec["snapshot_s"], family, spec.get("batch")))
        cfg.lr_g = cfg.lr_d = spec["lr"]
        cfg.model.update(spec.get("options", {}))  # a candidate's --ganforge-option
        result = train(cfg, progress=False, family_factory=family_class(family), dataset_factory=build_dataset)
        facts = {"steps": result.step, "batch": cfg.batch, "images_seen": result.step * cfg.batch,
                 "snapshots": len(list((out / "checkpoints").glob("step_*.safetensors")))}
    else:
        import image_baselines

        from ganforge.core.modalities.image.io import read_dataset

        data = read_dataset(spec["data"], spec["size"], "pad", warn=lambda m: None)
        facts = image_baselines.train_baseline(spec["model"], spec["lr"], data.images, data.labels,
                                               len(data.categories), spec["budget_s"], out, spec["snapshot_s"])
    facts = {**facts, "wall_s": round(time.monotonic() - wall0, 1), "cpu_s": round(time.process_time() - cpu0, 1)}
    (out / "facts.json").write_text(json.dumps(facts) + "\n")  # what --reuse reads back
    return facts


def _busy_seconds() -> float:
    """Busy CPU seconds of this machine's processes since boot (all cores): time the host stole
    is not busy here, it is reported apart (:func:`common.cpu_share`)."""
    t = cpu_seconds()
    return sum(t.values()) - t["idle"] - t["iowait"] - t["steal"] if t else float("nan")


def train_wave(specs: list[dict[str, Any]]) -> dict[str, Any]:
    """Train ``specs`` side by side (one process and one thread each); measure the machine."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    load_before, busy0, t0, cpu0 = os.getloadavg(), _busy_seconds(), time.monotonic(), cpu_seconds()
    procs = [subprocess.Popen([sys.executable, __file__, "--child", json.dumps(s)], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for s in specs]
    during = []
    while any(p.poll() is None for p in procs):
        during.append(os.getloadavg()[0])
        time.sleep(5)
    results = []
    for spec, p in zip(specs, procs, strict=True):
        out, err = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"{spec['name']} failed ({p.returncode}):\n{err[-3000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    wall = time.monotonic() - t0
    busy = _busy_seconds() - busy0
    ours = sum(r["cpu_s"] for r in results)
    return {"runs": [s["name"] for s in specs], "results": results, "wall_s": round(wall, 1),
            "loadavg_before": [round(v, 2) for v in load_before],
            "loadavg_after": [round(v, 2) for v in os.getloadavg()],
            "loadavg_1min_mean_during": round(float(np.mean(during)), 2) if during else None,
            "machine_busy_cpu_s": round(busy, 1), "runs_cpu_s": round(ours, 1),
            "other_processes_cpu_s": round(busy - ours, 1), "cores": os.cpu_count(),
            "cpu_share": cpu_share(cpu0, cpu_seconds())}


# ---- selection and scoring -----------------------------------------------------------------------
def snapshot_samplers(run: Path, model: str) -> list[tuple[str, Sampler]]:
    """Every saved snapshot of a run, oldest first, as (name, sampler)."""
    if model != "ganforge":
        import image_baselines

        return [(p.name, image_baselines.sampler(p)) for p in sorted(run.glob("snap_*.pt"))]
    return [(p.name, _ganforge_sampler(p)) for p in sorted((run / "checkpoints").glob("step_*.safetensors"))]


@functools.lru_cache(maxsize=4)
def _data_info(data: str, crop: int, options: str) -> dict[str, Any]:
    """A run's data_info rebuilt from its data, read once for all of its snapshots."""
    from ganforge.core.modalities.image.data import build_dataset

    return build_dataset(data, crop, json.loads(options), warn=lambda m: None).data_info


def _ganforge_generator(path: Path) -> tuple[Any, Any, dict[str, Any]]:
    from ganforge.core.training import checkpoint as ckpt

    tensors, meta = ckpt.load(path)
    info = meta["data_info"]
    if "category_counts" not in info:  # saved before data_info recorded it: the run's data say it
        c = meta["config"]
        info = _data_info(c["data"], c["crop"], json.dumps(c["data_options"], sort_keys=True))
    family = family_class(meta["config"]["family"])(meta["family_options"], info)
    G = family.build_generator()
    ckpt.load_module("G_ema", G, tensors, path)
    return family, G.float().eval().requires_grad_(False), meta


def _ganforge_sampler(path: Path) -> Sampler:
    import torch

    family, G, _ = _ganforge_generator(path)
    return lambda labels, seed: family.sample_images(G, len(labels), seed, torch.from_numpy(labels.astype(np.int64)))


def pack_sampler(checkpoint: Path, pack: Path) -> tuple[Sampler, dict[str, Any]]:
    """Export a ganforge checkpoint to a pack; sample it through the runtime, by category."""
    from ganforge.core import runtime
    from ganforge.exporters.onnx.export import export_generator

    family, G, meta = _ganforge_generator(checkpoint)
    report = export_generator(family, G, pack, facts={"steps": meta["step"], "checkpoint": checkpoint.name},
                              modality="image", family_name=meta["config"]["family"])
    rt = runtime.load(pack, device="cpu")
    names = rt.meta.decoder["categories"]

    def sample(labels: np.ndarray, seed: int) -> np.ndarray:
        out = np.zeros((len(labels), *rt.generate(0, 1, category=names[0]).shape[1:]), np.float32)
        start = seed
        for k in np.unique(labels):
            where = np.flatnonzero(labels == k)
            out[where] = rt.generate(start, len(where), category=names[int(k)])
            start += len(where)
        return out

    return sample, {"pack_bytes": report.bytes, "parity_max_abs_err": report.parity_max_abs_err}


def mix(labels: np.ndarray, num_classes: int, count: int) -> np.ndarray:
    """``count`` labels in ``labels``' category shares (the codec's rule for ``ganforge eval``)."""
    from ganforge.core.modalities.image.codec import category_mix

    return np.repeat(np.arange(num_classes), category_mix(labels, num_classes, count))


def select(samplers: list[tuple[str, Sampler]], val: Any, val_feats: np.ndarray) -> dict[str, Any]:
    """The snapshot with the lowest guarded KID on the validation split."""
    from ganforge.core.metrics.categories import guarded_kid
    from ganforge.core.metrics.features import random_cnn_features

    k = len(val.categories)
    labels = mix(val.labels, k, len(val.labels))
    scores = []
    for name, sample in samplers:
        s = guarded_kid(random_cnn_features(sample(labels, SELECT_SEED)), labels, val_feats, val.labels, k)
        scores.append({"snapshot": name, **{m: round(v, 5) for m, v in s.items()}})
    best = min(range(len(scores)), key=lambda i: scores[i]["kid_guarded"])
    return {"chosen": scores[best]["snapshot"], "chosen_index": best, "validation": scores}


def score(sample: Sampler, sets: dict[str, Any], feats: dict[str, np.ndarray], count: int) -> tuple[dict, np.ndarray]:
    """The test-split measures of one model's chosen snapshot."""
    from ganforge.core.metrics.categories import category_report
    from ganforge.core.metrics.features import random_cnn_features
    from ganforge.core.modalities.image import metrics

    test, k = sets["test"], len(sets["test"].categories)
    labels = mix(test.labels, k, count)
    samples = sample(labels, TEST_SEED)
    real = test.straight()
    kid = metrics.kid(samples, real)
    mem = metrics.memorisation(samples, real, training=sets["train_used"].straight())
    fresh = metrics.memorisation(real, real, training=sets["train_used"].straight())
    cats = category_report(random_cnn_features(samples), labels, feats["train"], sets["train"].labels, k,
                           held_out=(feats["test"], test.labels))
    names = test.categories
    return {"kid": kid["value"], "kid_std": kid["std"], "fd": metrics.fd(samples, real),
            "swd": metrics.swd(samples, real)["value"],
            "memorisation": mem["value"], "memorisation_flagged": mem["flagged"],
            "memorisation_floor_fresh_real": fresh["value"],
            **{m: cats[m] for m in ("accuracy", "accuracy_ratio", "variety", "variety_worst", "density", "coverage")},
            "collapsed_categories": [names[i] for i in cats["collapsed_categories"]],
            "variety_worst_category": None if cats["variety_worst_category"] is None
            else names[cats["variety_worst_category"]],
            "per_category": {n: {"accuracy": cats["accuracy_per_category"][i], "variety": cats["variety_per_category"][i]}
                             for i, n in enumerate(names)},
            "test_real_floor": {m: cats["floor"][m] for m in ("accuracy", "variety", "variety_worst", "density",
                                                               "coverage")}}, samples


def grid(sample: Sampler, categories: list[str], train_labels: np.ndarray, path: Path) -> None:
    """8 samples of each of the 8 largest categories, one row each."""
    from ganforge.core.modalities.image.family import save_grid

    rows = np.argsort(-np.bincount(train_labels, minlength=len(categories)))[:8]
    save_grid(sample(np.repeat(rows, 8), GRID_SEED), path, columns=8)


# ---- main ----------------------------------------------------------------------------------------
def run_specs(args: argparse.Namespace) -> list[dict[str, Any]]:
    specs = []
    for model in args.models.split(","):
        if model == "ganforge":
            from ganforge.core.commands.train import parse_data_options

            options = parse_data_options(args.ganforge_option, "--ganforge-option")
            for family in args.ganforge_family.split(","):
                if family not in FAMILY_RECIPES:
                    sys.exit(f"--ganforge-family {family}: choose from {', '.join(sorted(FAMILY_RECIPES))}")
                recipe = FAMILY_RECIPES[family]
                for batch in [int(b) for b in args.ganforge_batches.split(",") if b] or [recipe["batch"]]:
                    # "ganforge" alone is the stylish family at its recipe (the name earlier results use)
                    name = ("ganforge" + ("" if family == "stylish" else f"-{family}")
                            + ("" if batch == recipe["batch"] else f"+batch={batch}")
                            + "".join(f"+{k}={v}" for k, v in options.items()))
                    specs.append({"name": name, "model": "ganforge", "family": family, "batch": batch,
                                  "lr": recipe["lr"], "lr_rule": f"the {family} family's", "options": options})
            continue
        specs.append({"name": model, "model": model, "lr": 2e-4, "lr_rule": "published"})
        specs.append({"name": f"{model}@{args.budget_lr:g}", "model": model, "lr": args.budget_lr,
                      "lr_rule": "for the budget"})
    if args.runs:
        # a subset by name (e.g. the two best models at the longest budget): the rules stay the same
        wanted = [n for n in args.runs.split(",") if n]
        unknown = sorted(set(wanted) - {s["name"] for s in specs})
        if unknown:
            sys.exit(f"--runs {','.join(unknown)}: choose from {', '.join(s['name'] for s in specs)}")
        specs = [s for s in specs if s["name"] in wanted]
    return specs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, choices=(10, 30, 60), default=30, help="training budget per model")
    parser.add_argument("--seconds", type=float, default=None, help="override the budget (smoke runs)")
    parser.add_argument("--size", type=int, choices=(32, 64), default=32)
    parser.add_argument("--settings", default="full,10pct")
    parser.add_argument("--dataset", choices=("twemoji", "lfw"), default="twemoji",
                        help="twemoji (../shared/data) or lfw (scikit-image's faces, a set nobody tuned on)")
    parser.add_argument("--models", default="ganforge,dcgan,fastgan")
    parser.add_argument("--budget-lr", type=float, default=1e-3,
                        help="the baselines' second learning rate (published: 2e-4)")
    parser.add_argument("--parallel", type=int, default=2, help="runs trained side by side (one thread each)")
    parser.add_argument("--snapshots", type=int, default=10, help="snapshots per run to select among")
    parser.add_argument("--samples", type=int, default=1000, help="test samples per model")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "image.json")
    parser.add_argument("--ganforge-option", action="append", default=[], metavar="KEY=VALUE",
                        help="a model option of ganforge's run, for a candidate (its name shows it)")
    parser.add_argument("--ganforge-family", default="fastgan", metavar="F1,F2",
                        help="ganforge's model families, each at its recipe (FAMILY_RECIPES; default: "
                             "the modality's default family, fastgan)")
    parser.add_argument("--ganforge-batches", default="", metavar="B1,B2",
                        help="train ganforge at each of these batch sizes (default: the family's recipe)")
    parser.add_argument("--runs", default="", metavar="NAMES",
                        help="train and score only these runs (names as in the report, e.g. "
                             "ganforge-fastgan,dcgan@0.001)")
    parser.add_argument("--reuse", default="", metavar="NAMES",
                        help="runs (e.g. ganforge) trained by an earlier invocation with the same settings and "
                             "work dir: kept and re-scored, not retrained (their facts.json says how they trained)")
    parser.add_argument("--report", action="store_true", help="print the RESULTS.md table of --out")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    if args.report:
        from image_report import report

        print(report(json.loads(args.out.read_text())))
        return
    if args.dataset == "twemoji" and not DATA.is_file():
        sys.exit(f"no benchmark data at {DATA}")
    import torch

    torch.set_num_threads(1)
    from ganforge.core.metrics.features import random_cnn_features
    from ganforge.core.modalities.image import metrics

    budget = args.seconds if args.seconds is not None else args.minutes * 60.0
    work = Path(os.environ.get("GANFORGE_BENCH_DIR", "/tmp/ganforge-bench-image"))
    work.mkdir(parents=True, exist_ok=True)
    grids = args.out.parent
    # grid files: the target setting (twemoji, 30 min, 32 px) keeps the names RESULTS.md shows
    label = "" if (args.dataset, budget, args.size) == ("twemoji", 1800.0, 32) else \
        f"_{args.dataset}_{budget / 60:g}min_{args.size}px"
    results: dict[str, Any] = {
        "machine": machine(), "budget_s": budget, "size": args.size, "samples": args.samples,
        "data": DATA.name if args.dataset == "twemoji" else "skimage.data.lfw_subset", "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rules": {"parallel": args.parallel, "threads_per_model": 1, "snapshots": args.snapshots,
                  "selection": "lowest guarded KID (KID + 2·max(0, 0.5 − worst variety)) on the validation split",
                  "split": "stratified 80/10/10, seed 0"},
        "settings": {}}
    for setting in args.settings.split(","):
        sets = prepare(work, args.size, 1.0 if setting == "full" else 0.1, setting, args.dataset)
        feats = {name: random_cnn_features(sets[name].straight()) for name in ("train", "val", "test")}
        specs = run_specs(args)
        reuse = {n for n in args.reuse.split(",") if n}
        trained: dict[str, dict[str, Any]] = {}
        for s in specs:
            s.update(out=str(work / f"{setting}-{s['name']}"), data=str(sets["train_used_path"]), size=args.size,
                     budget_s=budget, snapshot_s=budget / args.snapshots)
            facts = Path(s["out"]) / "facts.json"
            if s["name"] in reuse:
                if not facts.is_file():
                    sys.exit(f"--reuse {s['name']}: no {facts} (train it first)")
                trained[s["name"]] = {**json.loads(facts.read_text()), "reused": True}
            else:
                shutil.rmtree(s["out"], ignore_errors=True)
        row: dict[str, Any] = {"train_images": len(sets["train_used"].images), "val_images": len(sets["val"].images),
                               "test_images": len(sets["test"].images), "waves": [], "runs": {}}
        fresh = [s for s in specs if s["name"] not in trained]
        for i in range(0, len(fresh), args.parallel):
            wave = train_wave(fresh[i:i + args.parallel])
            row["waves"].append({k: v for k, v in wave.items() if k != "results"})
            trained.update({s["name"]: r for s, r in zip(fresh[i:i + args.parallel], wave["results"], strict=True)})
        for s in specs:
            run = Path(s["out"])
            tag = s["name"].replace("@", "_lr").replace("+", "_").replace("=", "")
            chosen = select(snapshot_samplers(run, s["model"]), sets["val"], feats["val"])
            if s["model"] == "ganforge":
                sample, extra = pack_sampler(run / "checkpoints" / chosen["chosen"], work / f"{setting}-{tag}.onnx")
            else:
                sample, extra = dict(snapshot_samplers(run, s["model"]))[chosen["chosen"]], {}
            measured, _ = score(sample, sets, feats, args.samples)
            grid(sample, sets["train"].categories, sets["train"].labels, grids / f"image{label}_{tag}_{setting}.png")
            row["runs"][s["name"]] = {"model": s["model"], "lr": s["lr"], "lr_rule": s["lr_rule"],
                                      **trained[s["name"]], **chosen, **extra, **measured}
            print(setting, s["name"], json.dumps({k: row["runs"][s["name"]][k] for k in
                                                  ("steps", "cpu_s", "kid", "accuracy_ratio", "variety_worst",
                                                   "coverage")}), flush=True)
        val, test = sets["val"].straight(), sets["test"].straight()
        row["real_floor_val_vs_test"] = {"kid": metrics.kid(val, test)["value"], "fd": metrics.fd(val, test),
                                         "swd": metrics.swd(val, test)["value"]}
        results["settings"][setting] = row
        args.out.write_text(json.dumps(results, indent=2, default=float) + "\n")
    from ganforge.core.modalities.image.family import save_grid

    save_grid(sets["test"].straight()[:64], grids / f"image{label}_real.png", columns=8)
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    args.out.write_text(json.dumps(results, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
