"""`python -m angpt train`: one model, one process or DDP under torchrun, on a corpus or a token file.

The torchrun tests start real `torch.distributed.run` jobs with 2 CPU ranks (gloo): slow on
a busy 2-core machine (most of it is importing torch in three processes), so marked slow.
"""

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import angpt.train as T
from angpt import data as D
from angpt.__main__ import main
from angpt.config import TrainConfig, preset
from angpt.distributed import Dist

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--preset", "angpt", "--d-model", "32", "--n-layers", "2", "--n-heads", "2", "--seq-len", "32",
        "--device", "cpu", "--eval-tokens", "1024", "--no-progress"]
RUN = [*TINY, "--steps", "20", "--batch-size", "8", "--eval-every", "10"]  # the run compared across world sizes


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _torchrun(args: list[str], script: str | None = None, **kw) -> subprocess.Popen:
    """A 2-rank torchrun job of `python -m angpt ARGS` (or of `script ARGS`), in its own session."""
    target = [script] if script else ["-m", "angpt"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *target, *args]
    return subprocess.Popen(cmd, env=_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, **kw)


def _finish(proc: subprocess.Popen, timeout: float = 300) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_job(proc)
        raise
    assert proc.returncode == 0, out
    return out


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (Linux /proc): torchrun starts each rank in its own session."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _kill_job(proc: subprocess.Popen) -> None:
    """SIGKILL a torchrun job: its ranks (their own sessions) first, then torchrun's group."""
    for pid in _children(proc.pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def _final(result: dict) -> tuple[float, float]:
    return result["record"]["history"]["train_loss"][-1], result["record"]["evals"]["val_loss"][-1]


# ------------------------------------------------------------------------------ token files


def _token_file(path: Path, vocab: int = 1000, n: int = 20_000, dtype=np.uint16) -> np.ndarray:
    """A 50-id cycle scattered over [0, vocab): learnable, and ids above 255 when vocab > 256."""
    cycle = np.random.default_rng(0).choice(vocab, 50, replace=False)
    ids = np.resize(cycle, n).astype(dtype)
    ids.tofile(path)
    return ids


def test_token_file_is_memmapped_and_split(tmp_path):
    ids = _token_file(tmp_path / "tok.bin")
    c = D.load_token_file(tmp_path / "tok.bin", vocab_size=1000, batch_size=8, seq_len=32)
    assert isinstance(c.train, D.TokenArray) and isinstance(c.train.mm, np.memmap)
    assert len(c.train) == int(len(ids) * (1 - D.TOKEN_VAL_FRACTION)) and len(c.train) + len(c.val) == len(ids)
    x, y = next(D.BatchSampler(c.train, 8, 32, seed=0))
    assert x.dtype == torch.int64 and x.shape == (8, 32) and torch.equal(x[:, 1:], y[:, :-1])
    row = x[0].numpy()  # a window of the file, read as written
    start = next(i for i in range(len(ids) - 32) if np.array_equal(ids[i:i + 32], row))
    assert np.array_equal(y[0].numpy(), ids[start + 1:start + 33])
    val = D.load_token_file(tmp_path / "tok.bin", vocab_size=1000, val_path=tmp_path / "tok.bin")
    assert len(val.train) == len(val.val) == len(ids)  # a second file: no held-out tail


def test_the_cli_trains_from_a_uint16_file(tmp_path):
    _token_file(tmp_path / "tok.bin")
    out = tmp_path / "run.json"
    assert main(["train", *TINY, "--steps", "20", "--batch-size", "8", "--lr", "1e-2", "--data",
                 str(tmp_path / "tok.bin"), "--vocab-size", "1000", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["data"]["vocab_size"] == 1000 and r["data"]["source"] == str((tmp_path / "tok.bin").resolve())
    assert r["record"]["model_config"]["vocab_size"] == 1000
    first, last = r["record"]["evals"]["val_loss"][0], r["record"]["evals"]["val_loss"][-1]
    # the untrained model spreads over 1000 ids; anGPT's logit scale s_z = 10 adds ~ s_z^2 / (2 d)
    assert first == pytest.approx(math.log(1000) + 10.0**2 / (2 * 32), abs=0.3)
    assert last < first - 0.5, (first, last)  # and it learns the file's 50 ids


def _bad():
    """name -> (file writer, file name, what the error must say besides the file's path)."""
    def odd(p):
        p.write_bytes(b"\x01\x00\x02")  # 3 bytes: no whole uint16

    def short(p):
        _token_file(p, n=100)

    def big_ids(p):
        np.array([1, 2, 3, 1200] * 5000, dtype=np.uint16).tofile(p)

    def uint8_as_uint16(p):
        np.frombuffer(("to be or not to be " * 2000).encode(), dtype=np.uint8).tofile(p)

    return {
        "wrong-dtype": (odd, "tok.bin", "3 bytes, not a multiple of 2"),
        "too-short": (short, "tok.bin", "too short"),
        "id-too-big": (big_ids, "tok.bin", "holds id 1200 at position 3"),
        "uint8-read-as-uint16": (uint8_as_uint16, "tok.bin", "but vocab_size is 1000"),
        "missing": (None, "tok.bin", "does not exist"),
        "unknown-suffix": (short, "tok.txt", "cannot tell the token dtype"),
    }


@pytest.mark.parametrize("case", list(_bad()))
def test_bad_token_files_are_usage_errors_naming_the_file(tmp_path, capsys, case):
    write, name, message = _bad()[case]
    path = tmp_path / name
    if write:
        write(path)
    with pytest.raises(SystemExit) as exc:
        main(["train", *TINY, "--steps", "2", "--batch-size", "8", "--data", str(path), "--vocab-size", "1000",
              "--out", str(tmp_path / "run.json")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "Traceback" not in err
    assert str(path) in err and message in err, err
    assert not (tmp_path / "run.json").exists()


@pytest.mark.parametrize("argv, message", [
    (["--data", "x.bin"], "holds uint16 ids: give the tokenizer's --vocab-size"),
    (["--corpus", "shakespeare", "--vocab-size", "1000"], "--vocab-size must be 256"),
    (["--val-data", "v.bin"], "--val-data applies to --data only"),
    (["--ckpt-every", "5"], "--ckpt-every 5 needs --ckpt"),
    (["--d-model", "33"], "d_model=33 is not divisible by n_heads=2"),
    (["--lr", "-1"], "--lr must be a positive number"),
])
def test_bad_options_are_usage_errors(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(["train", *RUN, "--out", str(tmp_path / "run.json"), *argv])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err and "Traceback" not in err, err


def test_help_does_not_import_torch():
    code = "import sys; from angpt.__main__ import main\ntry: main(['--help'])\nexcept SystemExit: pass\n" \
           "assert 'torch' not in sys.modules"
    r = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True)
    assert r.returncode == 0 and "train" in r.stdout, r.stderr


# ------------------------------------------------------------------------------ the DDP hooks, in one process


def test_each_rank_takes_a_disjoint_block_of_the_global_batch():
    x = torch.arange(8)[:, None].expand(8, 3)
    blocks = [Dist(r, 4, r, "gloo", torch.device("cpu")).shard(x, x + 1)[0][:, 0].tolist() for r in range(4)]
    assert blocks == [[0, 1], [2, 3], [4, 5], [6, 7]]
    with pytest.raises(ValueError, match="batch_size 6 .* divisible by the world size 4"):
        Dist(0, 4, 0, "gloo", torch.device("cpu")).rows(6)


class FakeDist(Dist):
    """A Dist without a process group: rank `rank` of `world` with identity collectives, to check
    what the loop does with the context (which rows it trains on, who writes)."""

    def wrap(self, model):
        return model

    def mean(self, value):
        return value

    def from_main(self, value):
        return value


def test_the_loop_trains_on_its_shard_and_only_rank_0_writes(tmp_path):
    cfg = preset("angpt", d_model=32, n_layers=1, n_heads=2, seq_len=16)
    rows = []
    for rank in (0, 1):
        ckpt = tmp_path / f"rank{rank}.pt"
        tcfg = TrainConfig.for_arch("angpt", steps=2, batch_size=8, eval_tokens=64, device="cpu", ckpt_path=str(ckpt))
        seen, steps = [], []
        real = T.train_step

        def spy(model, fwd, opt, x, y, *a, **k):
            seen.append(x.clone())
            return real(model, fwd, opt, x, y, *a, **k)

        T.train_step = spy
        try:
            T.train(cfg, tcfg, progress=False, callback=lambda n, rec: steps.append(n),
                    dist=FakeDist(rank, 2, rank, "gloo", torch.device("cpu")))
        finally:
            T.train_step = real
        assert [s.shape[0] for s in seen] == [4, 4] and steps == [1, 2]
        assert ckpt.exists() == (rank == 0)  # rank 1 checks the weights but writes nothing
        rows.append(seen[0])
    full = next(D.BatchSampler(D.load_corpus("shakespeare").train, 8, 16, seed=0))[0]
    assert torch.equal(torch.cat(rows), full)  # the two shards are the global batch, in order


# ------------------------------------------------------------------------------ torchrun (2 CPU ranks, gloo)


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """The RUN command under torchrun with 2 ranks; its JSON."""
    out = tmp_path_factory.mktemp("ddp") / "run2.json"
    _finish(_torchrun(["train", *RUN, "--out", str(out)]))
    return json.loads(out.read_text())


@pytest.mark.slow
def test_two_ranks_match_one_process(tmp_path, two_ranks, capsys):
    out = tmp_path / "run1.json"
    assert main(["train", *RUN, "--out", str(out)]) == 0
    one = json.loads(out.read_text())
    for r, world in ((one, 1), (two_ranks, 2)):
        assert r["world_size"] == r["provenance"]["world_size"] == world
        assert r["provenance"]["source_sha256"] and r["provenance"]["torch_version"] == torch.__version__
        assert r["record"]["tokens_per_step"] == 8 * 32  # --batch-size is the global batch
    assert two_ranks["backend"] == "gloo" and two_ranks["provenance"]["device"].startswith("2 x ")
    (t1, v1), (t2, v2) = _final(one), _final(two_ranks)
    print(f"final train loss 1 rank {t1:.6f}, 2 ranks {t2:.6f} (rel. diff {abs(t1 - t2) / t1:.2e}); "
          f"val loss {v1:.6f} vs {v2:.6f} (rel. diff {abs(v1 - v2) / v1:.2e})")
    assert abs(t1 - t2) / t1 < 0.02 and abs(v1 - v2) / v1 < 0.02
    # every step, not only the last: the same global batches in the same order
    np.testing.assert_allclose(one["record"]["history"]["train_loss"], two_ranks["record"]["history"]["train_loss"],
                               rtol=1e-4)


SLOW_STEPS = """
import sys, time
import angpt.train as T

real = T.train_step

def slow(*args, **kw):  # the same update, 0.2 s later: room to kill the job between checkpoints
    time.sleep(0.2)
    return real(*args, **kw)

T.train_step = slow
from angpt.__main__ import main
sys.exit(main())
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds torchrun's ranks through Linux /proc")
def test_a_killed_torchrun_job_resumes_from_its_checkpoint(tmp_path, two_ranks, capsys):
    ckpt, out = tmp_path / "run.pt", tmp_path / "run.json"
    args = ["train", *RUN, "--ckpt", str(ckpt), "--ckpt-every", "5", "--out", str(out)]
    script = tmp_path / "slow_train.py"
    script.write_text(SLOW_STEPS)
    job = _torchrun(args, script=str(script))
    deadline = time.monotonic() + 300
    while not ckpt.exists() and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    _kill_job(job)  # both ranks and torchrun, mid-run
    time.sleep(1.0)  # a rank that survived the kill would go on and write --out
    assert ckpt.exists() and not out.exists(), "the job ended before it could be killed after a checkpoint"
    killed_at = torch.load(ckpt, weights_only=True)["step"]
    assert 5 <= killed_at < 20
    shutil.copy(ckpt, tmp_path / "copy.pt")
    log = _finish(_torchrun(args))  # the same command again, at full speed
    resumed = json.loads(out.read_text())
    assert f"resumed from {ckpt} at step {killed_at}" in log and resumed["started_at_step"] == killed_at
    assert resumed["record"]["history"]["step"] == list(range(1, 21))
    # the interrupted run ends where the uninterrupted one does
    (t, v), (t2, v2) = _final(resumed), _final(two_ranks)
    assert t == pytest.approx(t2, rel=1e-6) and v == pytest.approx(v2, rel=1e-6)
    # the sampler draws global batches, so one process can take over the 2-rank checkpoint
    one = tmp_path / "one.json"
    assert main(["train", *RUN, "--ckpt", str(tmp_path / "copy.pt"), "--out", str(one)]) == 0
    assert f"at step {killed_at}" in capsys.readouterr().out
    (t1, v1) = _final(json.loads(one.read_text()))
    print(f"killed at step {killed_at}; final train loss uninterrupted {t2:.6f}, resumed on 2 ranks {t:.6f}, "
          f"resumed on 1 process {t1:.6f}")
    assert t1 == pytest.approx(t2, rel=1e-4) and v1 == pytest.approx(v2, rel=1e-4)
