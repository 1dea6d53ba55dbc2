"""torchrun: `torchrun --nproc_per_node=2 -m playground.train ...` on 2 CPU processes (gloo) computes what one
process computes with the same global batch, up to the order of float additions."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from playground.mnist.checkpoint import load_checkpoint
from playground.runtime import distributed

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--preset", "shipped", "--steps", "8", "--batch-size", "32", "--lr", "3e-3", "--warmup-steps", "1",
        "--channels", "8,16", "--num-res-blocks", "1", "--no-attention", "--bf16", "off", "--preview-every", "0",
        "--log-every", "2", "--device", "cpu", "--threads", "1"]


def _run(cmd: list[str], out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    p = subprocess.run(cmd + ARGS + ["--out", str(out), "--resume-out", str(out.with_suffix(".full.pt"))],
                       cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    return p


def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path):
    one = _run([sys.executable, "-m", "playground.train"], tmp_path / "one.pt")
    two = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                "-m", "playground.train"], tmp_path / "two.pt")
    assert "torchrun: 2 processes" in two.stdout and "torchrun" not in one.stdout
    assert two.stdout.count("finished (steps) after 8 steps") == 1  # rank 0 alone logs
    a, b = load_checkpoint(tmp_path / "one.full.pt"), load_checkpoint(tmp_path / "two.full.pt")
    init = load_checkpoint(tmp_path / "one.full.pt")  # for the scale of the update: a fresh model of the same seed
    from playground.mnist.model import UNet, UNetConfig

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        fresh = UNet(UNetConfig.from_dict(init["config"])).state_dict()
    moved = sum(float((a["model"][k].float() - fresh[k].float()).pow(2).sum()) for k in fresh) ** 0.5
    diff = sum(float((a["model"][k].float() - b["model"][k].float()).pow(2).sum()) for k in fresh) ** 0.5
    # measured 2026-11-22: 5e-7 of the distance the weights moved in 8 steps (float sums in another order)
    print(f"2 processes vs 1: |dθ| = {diff:.3g}, {diff / moved:.2g} of the distance moved ({moved:.3g})")
    assert moved > 0.1 and diff < 1e-4 * moved, (diff, moved)
    for k, v in a["ema"].items():
        torch.testing.assert_close(b["ema"][k], v, rtol=1e-4, atol=1e-5)
    assert a["meta"]["steps"] == b["meta"]["steps"] == 8


def test_env_parsing_and_shards():
    assert distributed.from_env({}) == distributed.DistEnv(0, 1, 0) and not distributed.from_env({}).enabled
    env = distributed.from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    assert env.enabled and not env.is_main
    x = torch.arange(8)
    assert distributed.shard(x, env).tolist() == [4, 5, 6, 7]
    assert distributed.shard(x, distributed.DistEnv()).tolist() == list(range(8))
    with pytest.raises(ValueError, match="RANK"):
        distributed.from_env({"RANK": "2", "WORLD_SIZE": "2"})
    with pytest.raises(ValueError, match="torchrun"):
        distributed.from_env({"WORLD_SIZE": "two"})
