"""Two nodes simulated on this machine (issue 17): two ``torchrun --nnodes 2`` agents meet at a
c10d rendezvous on 127.0.0.1 and train one run with the README's multi-node command — the same
``ganforge train`` a single process runs. Checked: both agents end cleanly, the checkpoint says
two ranks and holds each rank's own data stream, and only one rank wrote the log."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import TINY_MODEL

from ganforge.core.training import checkpoint as ckpt


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(300)
def test_two_nodes_on_one_machine_train_one_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    port = free_port()
    model = [a for k, v in TINY_MODEL.items() for a in ("--model-option", f"{k}={v}")]
    train = ["-m", "ganforge.core.cli", "train", "texture", "--data", "builtin:skimage", "--out", str(run),
             "--steps", "4", "--crop", "32", "--batch", "4", "--device", "cpu", "--checkpoint-every", "4",
             "--sample-every", "1000", "--no-progress", *model]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    agents = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank", str(node),
         "--nproc-per-node", "1", "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}",
         "--rdzv-id", "ganforge-test", "--max-restarts", "0", *train],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for node in (0, 1)]
    outputs = []
    try:
        for agent in agents:
            outputs.append(agent.communicate(timeout=280))
    finally:
        for agent in agents:
            if agent.poll() is None:
                agent.kill()
    for agent, (_, err) in zip(agents, outputs, strict=True):
        assert agent.returncode == 0, err[-3000:]

    tensors, meta = ckpt.load(ckpt.list_checkpoints(run)[-1])
    assert meta["step"] == 4 and meta["world_size"] == 2 and meta["images_seen"] == 4 * 4 * 2
    assert {k for k in tensors if k.startswith("rng.data.")} == {"rng.data.rank0", "rng.data.rank1"}
    assert not torch.equal(tensors["rng.data.rank0"], tensors["rng.data.rank1"])  # each node its own data
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["event"] for r in records if r.get("event") == "start"] == ["start"]  # one writer
