"""Interruption: SIGINT/SIGTERM save and return ``interrupted``; SIGKILL never corrupts the run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from ganforge.core.training import checkpoint as ckpt
from ganforge.core.training.run import load_for_export, train

# Runs train() from a JSON config in a child process and prints the result as JSON.
TRAIN_CHILD = """
import json, sys
from ganforge.core.training.config import TrainConfig
from ganforge.core.training.run import train
r = train(TrainConfig.from_dict(json.loads(sys.argv[1])), resume=sys.argv[2] == "1", progress=False)
print(json.dumps({"step": r.step, "interrupted": r.interrupted}))
"""

# Atomically saves a checkpoint-sized file in a tight loop until killed.
SAVE_CHILD = """
import sys, torch
from ganforge.core.training import checkpoint as ckpt
big = torch.arange(2_000_000, dtype=torch.float32)
i = 0
while True:
    i += 1
    ckpt.save(sys.argv[1], {"w": big + i}, {"step": i})
    print(i, flush=True)
"""


def logged_steps(run_dir: Path) -> int:
    try:
        lines = (run_dir / "log.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return 0
    steps = [0]
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line being written right now
            continue
        if "event" not in record:
            steps.append(record["step"])
    return max(steps)


def wait_for(condition, timeout: float = 90.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("condition not reached")
        time.sleep(0.05)


def test_sigkill_during_tight_save_loop_leaves_a_loadable_file(tmp_path: Path) -> None:
    target = tmp_path / "ck" / "step_000000001.safetensors"
    rng = random.Random(0)
    last_seen = 0
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", SAVE_CHILD, str(target)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        first = int(proc.stdout.readline())  # one save completed: torch is up, the loop is hot
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        tensors, meta = ckpt.load(target)  # whatever moment it died, the file is whole
        assert meta["step"] >= first and torch.equal(tensors["w"][:3], torch.tensor([0.0, 1, 2]) + meta["step"])
        last_seen = meta["step"]
    assert last_seen >= 1


def test_sigkill_during_training_then_export_and_resume_work(tiny_config, tmp_path: Path) -> None:
    cfg = tiny_config(steps=10**6, checkpoint_every=1, keep_last=2, log_every=1)
    run_dir = Path(cfg.out)
    rng = random.Random(1)
    reached = 0
    for attempt in range(3):
        proc = subprocess.Popen([sys.executable, "-c", TRAIN_CHILD, json.dumps(cfg.to_dict()),
                                 "1" if attempt else "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda at_least=reached + 2: logged_steps(run_dir) >= at_least)
            time.sleep(rng.uniform(0.0, 0.4))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        bundle = load_for_export(run_dir)
        assert bundle.facts["steps"] >= max(reached, 1)
        reached = bundle.facts["steps"]
    done = train(replace(cfg, steps=reached + 2), resume=True, progress=False)
    assert done.step == reached + 2 and not done.interrupted
    left = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    # the log was trimmed back to each resumed checkpoint: one line per step, in order, all whole
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if "event" not in r]
    assert steps == list(range(1, reached + 3))
    # rotation kept the last two; the temp file a kill may have left was cleaned by the next save
    assert left == ["best.safetensors", f"step_{reached + 1:09d}.safetensors",
                    f"step_{reached + 2:09d}.safetensors"]


def test_sigterm_saves_and_reports_interrupted(tiny_config) -> None:
    cfg = tiny_config(steps=10**6, log_every=1)
    run_dir = Path(cfg.out)
    proc = subprocess.Popen([sys.executable, "-c", TRAIN_CHILD, json.dumps(cfg.to_dict()), "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: logged_steps(run_dir) >= 3)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["interrupted"] and result["step"] >= 3
    assert "SIGTERM" in err
    assert load_for_export(run_dir).facts["steps"] == result["step"]


def test_sigint_in_process_finishes_the_step_and_resume_continues(tiny_config) -> None:
    cfg = tiny_config(steps=10**6, log_every=1)
    run_dir = Path(cfg.out)
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are delivered to the main thread only")

    def interrupt() -> None:
        wait_for(lambda: logged_steps(run_dir) >= 2)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    result = train(cfg, progress=False)
    assert result.interrupted and result.step >= 2
    assert ckpt.list_checkpoints(run_dir)[-1].name == f"step_{result.step:09d}.safetensors"
    more = train(tiny_config(steps=result.step + 2), resume=True, progress=False)
    assert more.step == result.step + 2 and not more.interrupted
    # our handlers are gone again: pytest's own SIGINT handling is back
    assert signal.getsignal(signal.SIGINT) is not None
