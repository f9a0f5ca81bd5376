"""Every unclear, silently accepted or hanging case of the reliability audit's bad-input table
gets a clear error: a ValueError/TypeError naming the value (or field) and what is valid, or, for
the `bench` command line, a usage error (exit 2, no traceback). One case per audit row; the id
says the row (appendix number, or the resource/CLI table). The results-file rows (168-180) and
`run --out` belong to angpt.experiments and are tested there."""

import contextlib
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

import angpt
from angpt import data as D
from angpt import factor_checks as FC
from angpt import factors as F
from angpt import norms as N
from angpt import particles as P
from angpt import sampling as S
from angpt.config import ModelConfig, TrainConfig, preset
from angpt.constraints import constrain_

TINY = dict(d_model=32, n_layers=2, n_heads=2, seq_len=32)


@contextlib.contextmanager
def deadline(seconds: int):
    """Turn a hang into a test failure (the audit's 'hang' rows ran > 45 s)."""

    def fail(*_):
        raise TimeoutError(f"no answer within {seconds} s: no size guard")

    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return angpt.build_model("angpt", **TINY)


@pytest.fixture(scope="module")
def idx():
    return torch.randint(0, 256, (2, 8))


def _nan_weight_model():
    m = angpt.build_model("angpt", **TINY)
    with torch.no_grad():
        m.blocks[0].attn.qkv.weight[0, 0] = float("nan")
    return m


def _ckpt_case(kind):
    def run(tmp_path):
        path = tmp_path / "c.pt"
        if kind == "dir":
            path.mkdir()
        elif kind == "garbage":
            path.write_bytes(b"\x00not a checkpoint" * 10)
        elif kind == "truncated":
            from angpt.train import save_checkpoint

            save_checkpoint(path, {"version": 1, "w": torch.zeros(1000)})
            path.write_bytes(path.read_bytes()[:200])
        elif kind == "unwritable":
            path = "/proc/angpt_x.pt"
        c = D.load_corpus("shakespeare")
        corpus = D.Corpus("shakespeare", c.train[:8192], c.val[:4096], c.source)
        tc = TrainConfig.for_arch("gpt", steps=2, batch_size=2, eval_tokens=64, eval_every=0, device="cpu",
                                  ckpt_path=str(path))
        angpt.train(preset("gpt+", **TINY), tc, corpus=corpus, progress=False)
    return run


# (audit row, call taking tmp_path, regex the message must match: it names the value or field)
CASES = [
    ("11 preset qk_norm='no'", lambda t: preset("angpt", qk_norm="no"), r"qk_norm must be True or False, got 'no'"),
    ("12 preset depth_scaling='no'", lambda t: preset("gpt", depth_scaling="no"), r"depth_scaling must be True or False, got 'no'"),
    ("13 preset mix_fraction='0.5'", lambda t: preset("gpt", mix_fraction="0.5"), r"mix_fraction must be a number, got '0.5'"),
    ("17 preset angpt placement='post'", lambda t: preset("angpt", placement="post"), r"placement='post' applies to the GPT family"),
    ("18 preset ngpt qk_norm=False", lambda t: preset("ngpt", qk_norm=False), r"qk_norm=False does not apply to arch 'ngpt'"),
    ("34 TrainConfig min_lr_ratio='0'", lambda t: TrainConfig(min_lr_ratio="0"), r"min_lr_ratio must be a number, got '0'"),
    ("36 TrainConfig seed=2**64", lambda t: TrainConfig(seed=2**64), r"seed must be .* below 2\*\*63, got 18446744073709551616"),
    ("39 TrainConfig compile='no'", lambda t: TrainConfig(compile="no"), r"compile must be True or False, got 'no'"),
    ("43 TrainConfig ckpt_path=123", lambda t: TrainConfig(ckpt_path=123), r"ckpt_path must be None or a file path .*got 123"),
    ("46 for_arch steps='100'", lambda t: TrainConfig.for_arch("gpt", steps="100"), r"steps must be a positive integer, got '100'"),
    ("59 forward empty batch", lambda t: angpt.build_model("angpt", **TINY)(torch.zeros(0, 8, dtype=torch.long)),
     r"empty batch dimension"),
    ("82 train ckpt_path is a folder", _ckpt_case("dir"), r"ckpt_path '.*c.pt' is a folder"),
    ("83 train ckpt_path garbage", _ckpt_case("garbage"), r"'.*c.pt' is not a readable angpt checkpoint"),
    ("84 train ckpt_path truncated", _ckpt_case("truncated"), r"'.*c.pt' is not a readable angpt checkpoint"),
    ("86 train ckpt_path unwritable", _ckpt_case("unwritable"), r"ckpt_path '/proc/angpt_x.pt' is not writable"),
    ("92 constrain_('model')", lambda t: constrain_("model"), r"constrain_ expects an angpt Transformer .*got str"),
    ("93 constrain_(nn.Linear)", lambda t: constrain_(nn.Linear(4, 4)), r"constrain_ expects an angpt Transformer .*got Linear"),
    ("94 constrain_ NaN weight", lambda t: constrain_(_nan_weight_model()), r"blocks.0.attn.qkv.weight.*NaN or infinite"),
    ("98 nu_lerp(np.float32(nan))", lambda t: F.nu_lerp(np.float32("nan")), r"alpha must be finite .*got np.float32\(nan\)|got nan"),
    ("99 nu_lerp(2.0)", lambda t: F.nu_lerp(2.0), r"alpha must be finite and lie in \[0, 1\], got 2.0"),
    ("100 nu_lerp('0.5')", lambda t: F.nu_lerp("0.5"), r"alpha must be a number .*got '0.5'"),
    ("102 nu_activation(zero)", lambda t: F.nu_activation(lambda x: 0 * x), r"E f\(x\)\^2 = 0.0"),
    ("104 angpt_factors mlp_ratio=0", lambda t: F.angpt_factors(64, 4, mlp_ratio=0), r"mlp_ratio must be an integer >= 1, got 0"),
    ("105 norm_stats(5)", lambda t: S.norm_stats(5), r"dims must be a list of integer dimensions.*got 5"),
    ("106 norm_stats n=1", lambda t: S.norm_stats([4], n=1), r"n must be an integer >= 2 .*got 1"),
    ("109 cosine_stats n_points=2", lambda t: S.cosine_stats([4], n_points=2), r"n_points must be an integer >= 3 .*got 2"),
    ("124 attention_sq_sum('abc')", lambda t: FC.attention_sq_sum("abc"), r"probs must be an array .*got 'abc'"),
    ("125 mc_activation_factor(zero)", lambda t: FC.mc_activation_factor(lambda x: 0 * x, n_samples=10), r"E f\(x\)\^2 = 0.0"),
    ("133 simulate seed=-1", lambda t: P.simulate("ngpt", seed=-1), r"seed must be an integer >= 0, got -1"),
    ("139 velocity theta 1-D", lambda t: P.velocity("ngpt", np.ones(4) / 2, np.ones(1), 0.0, 1.0), r"theta must be an \(n, d\) array .*got shape \(4,\)"),
    ("140 velocity r wrong length", lambda t: P.velocity("ngpt", np.eye(3, 4), np.ones(5), 0.0, 1.0), r"r must hold one .*shape \(3,\), got shape \(5,\)"),
    ("141 velocity alpha=0", lambda t: P.velocity("ngpt", np.eye(3, 4), np.ones(3), 0.0, 1.0, alpha=0), r"alpha must be a positive finite number, got 0"),
    ("142 velocity theta not unit", lambda t: P.velocity("ngpt", 100 * np.eye(3, 4), np.ones(3), 0.0, 1.0), r"theta must have unit rows.*\[100, 100\]"),
    ("146 cosine_profile('model')", lambda t: P.cosine_profile("model", torch.zeros(1, 4, dtype=torch.long)), r"cosine_profile expects an angpt Transformer .*got str"),
    ("153 norm_profile(nn.Linear)", lambda t: N.norm_profile(nn.Linear(4, 4), torch.zeros(1, 4, dtype=torch.long)), r"norm_profile expects an angpt Transformer .*got Linear"),
    ("158 heatmap([{'foo': 1}])", lambda t: N.heatmap([{"foo": 1}]), r"record 0 lacks \['site', 'step', 'layer', 'mean'\]"),
    ("162 measured_lerp_angle d=1", lambda t: N.measured_lerp_angle(0.5, 0.1, d=1), r"d must be an integer >= 2, got 1"),
    ("163 measured_lerp_angle('0.5')", lambda t: N.measured_lerp_angle("0.5", 0.1), r"alpha must be a finite number, got '0.5'"),
    # resource_cases.sh: the two hangs and the unclear allocator errors
    ("res simulate T=1e5 dt=1e-3", lambda t: P.simulate("ngpt", T=1e5, dt=1e-3), r"T/dt = 1e\+08 Euler steps .*MAX_STEPS"),
    ("res simulate record_every=1e6 (hang)", lambda t: P.simulate("ngpt", T=1e5, dt=1e-3, record_every=10**6), r"T/dt = 1e\+08 Euler steps"),
    ("res norm_stats([1e7], n=1e6) (hang)", lambda t: S.norm_stats([10**7], n=10**6), r"n=1000000 and dims=\[10000000\] .*MAX_SAMPLE_ELEMS"),
    ("res build_model vocab_size=1e9", lambda t: angpt.build_model("gpt", vocab_size=10**9), r"size guard .*vocab_size=1000000000"),
    ("res build_model d_model=1e6", lambda t: angpt.build_model("gpt", d_model=10**6, n_heads=2), r"size guard .*d_model=1000000"),
]


@pytest.mark.parametrize("call, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clear_error(call, pattern, tmp_path):
    with deadline(20), pytest.raises((ValueError, TypeError), match=pattern):
        call(tmp_path)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int8, torch.int16, torch.int32])
def test_model_accepts_narrow_integer_ids(model, dtype):
    """Rows 64-65: angpt.data.encode gives uint8; `uint8 < 256` wraps around, so the old check
    rejected valid ids with 'must lie in [0, 255] ... got values in [101, 111]'."""
    ids = D.encode("hello") if dtype == torch.uint8 else torch.tensor([1, 2, 3], dtype=dtype)
    want = model(ids[None].long())
    assert torch.equal(model(ids[None].to(dtype)), want)
    out = angpt.decode.generate(model, ids[None].to(dtype), max_new_tokens=2, temperature=0)
    assert out.shape == (1, len(ids) + 2)


def test_narrow_ids_out_of_range_are_still_caught():
    m = angpt.build_model("angpt", **{**TINY, "vocab_size": 100})
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 99\].*got values in \[101, 111\]"):
        m(D.encode("hello")[None])


BENCH_CASES = [
    ("--steps 0", r"--steps must be an integer >= 1, got 0"),
    ("--steps -3", r"--steps must be an integer >= 1, got -3"),
    ("--warmup -1", r"--warmup must be an integer >= 0, got -1"),
    ("--batch-size -1", r"--batch-size must be a positive integer.*got -1"),
    ("--batch-size 0", r"--batch-size must be a positive integer.*got 0"),  # was: silently 8
    ("--device cuda", r"--device cuda was asked for but torch sees no CUDA device"),
    ("--inference --compile", r"--compile is not supported with --inference"),
    ("--models foo", r"--models 'foo': unknown model name\(s\) \['foo'\]; valid choices: gpt, gpt\+"),
    ("--models ngpt,angpt", r"--models 'ngpt,angpt' must include the baseline 'gpt\+'"),
    ("--models ,", r"--models ',': no model name; valid choices"),
    ("--steps 1 --warmup 0 --out /proc/bench.json", r"--out '/proc/bench.json' cannot be written"),
    ("--steps 1 --warmup 0 --out {tmp}", r"--out '.*' is a folder"),
]


@pytest.mark.parametrize("argv, pattern", BENCH_CASES, ids=[c[0] for c in BENCH_CASES])
def test_bench_cli_bad_options_are_usage_errors(argv, pattern, tmp_path, capsys):
    if "cuda" in argv and torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    from angpt.__main__ import main

    with deadline(20), pytest.raises(SystemExit) as exit_:
        main(["bench", *argv.format(tmp=tmp_path).split()])
    err = capsys.readouterr().err
    assert exit_.value.code == 2, err
    assert "usage:" in err and "Traceback" not in err
    assert pytest.importorskip("re").search(pattern, err), err


def test_bench_out_through_a_symlink_writes_its_target(tmp_path):
    """CLI row 'bench --out link.json': the link was replaced by a file, the target left stale."""
    import argparse

    from angpt import bench

    target = tmp_path / "real.json"
    target.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    p = argparse.ArgumentParser()
    bench.add_arguments(p)
    args = p.parse_args(["--out", str(link)])
    bench.check_arguments(args)
    assert args.out == str(target.resolve())


def test_bench_cli_error_has_no_traceback_end_to_end():
    r = subprocess.run([sys.executable, "-m", "angpt", "bench", "--steps", "0"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "--steps must be" in r.stderr
