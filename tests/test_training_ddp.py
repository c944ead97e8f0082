"""Two CPU processes under torchrun (gloo): weights stay identical, data differs, rank 0 writes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ganforge.core.modalities.texture.family import TextureFamily
from ganforge.core.training import checkpoint as ckpt

# Each rank trains, then records a digest of its final G and D and of its first real batches.
RANK_SCRIPT = """
import hashlib, json, os, sys
import torch
from ganforge.core.modalities.texture.data import build_dataset
from ganforge.core.modalities.texture.family import TextureFamily
from ganforge.core.training.config import TrainConfig
from ganforge.core.training.run import train

cfg, report = TrainConfig.from_dict(json.loads(sys.argv[1])), sys.argv[2]
nets, first = {}, []

def digest(tensors):
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().contiguous().numpy().tobytes())
    return h.hexdigest()

class Family(TextureFamily):  # remembers the networks it builds
    def build_generator(self):
        nets.setdefault("G", super().build_generator())
        return nets["G"]
    def build_discriminator(self):
        nets["D"] = super().build_discriminator()
        return nets["D"]

def dataset(path, crop, options):
    ds = build_dataset(path, crop, options)
    def recording(sample):
        def record(batch, gen):
            x = sample(batch, gen)
            first.append(digest([x]))
            return x
        return record
    # without a held-out band (the default) the metric's fixed batch comes through sample too:
    # recording sample alone sees it first, then each rank's training batches
    ds.sample = recording(ds.sample)
    return ds

result = train(cfg, progress=False, family_factory=Family, dataset_factory=dataset)
rank = os.environ["RANK"]
with open(os.path.join(report, f"rank{rank}.json"), "w") as f:
    json.dump({"step": result.step, "G": digest(nets["G"].parameters()), "D": digest(nets["D"].parameters()),
               "batches": first[:3], "world": os.environ["WORLD_SIZE"]}, f)
"""


@pytest.mark.timeout(300)
def test_two_cpu_ranks_stay_in_sync_and_only_rank0_writes(tiny_config, tmp_path: Path) -> None:
    cfg = tiny_config(steps=5, log_every=1, sample_every=5, checkpoint_every=5)
    report = tmp_path / "report"
    report.mkdir()
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(script), json.dumps(cfg.to_dict()), str(report)],
        capture_output=True, text=True, timeout=280, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    r0, r1 = (json.loads((report / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["world"] == r1["world"] == "2" and r0["step"] == r1["step"] == 5
    assert r0["G"] == r1["G"] and r0["D"] == r1["D"]  # gradients were averaged
    assert r0["batches"][0] == r1["batches"][0]  # the fixed real batch the metric uses
    assert r0["batches"][1] != r1["batches"][1] and r0["batches"][2] != r1["batches"][2]  # own data

    run_dir = Path(cfg.out)
    tensors, meta = ckpt.load(ckpt.list_checkpoints(run_dir)[-1])
    order = TextureFamily(cfg.model, meta["data_info"]).build_generator().state_dict().keys()
    h = hashlib.sha256()
    for name in order:  # the checkpoint holds the ranks' common weights
        h.update(tensors[f"G.{name}"].numpy().tobytes())
    assert h.hexdigest() == r0["G"]
    assert meta["world_size"] == 2 and meta["images_seen"] == 5 * cfg.batch * 2
    assert {k for k in tensors if k.startswith("rng.data.")} == {"rng.data.rank0", "rng.data.rank1"}
    assert not torch.equal(tensors["rng.data.rank0"], tensors["rng.data.rank1"])
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "event" not in r] == [1, 2, 3, 4, 5]  # one writer
    assert [r["event"] for r in records if r.get("event") == "start"] == ["start"]
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == ["step_000005.png"]
