"""FSDP step by step (engine/parallel/fsdp.py) and the memory conventions beside it
(engine/parallel/memory_conventions.py).

Oracles: the ZeRO-3 closed form (engine.parallel.memory.zero_memory, checked against the ZeRO paper
in test_parallel_memory.py) plus the gathered units, written out by hand for GPT-2 small; Hugging Face's
parameter counts of the GPT-2 checkpoints and GPT-3's published 175 B; DeepSpeed's ZeRO-3 estimator
output for t5-small as printed by ``estimate_zero3_model_states_mem_needs_all_live`` (60,506,624
parameters, largest layer the 32128 × 512 shared embedding); Korthikanti et al.'s Table 2.
"""

from __future__ import annotations

import itertools

import pytest

from engine.core.errors import BudgetError, EngineError
from engine.parallel import fsdp
from engine.parallel import memory_conventions as mc
from engine.parallel.memory import zero_memory

GiB = float(1 << 30)
ROOT_GPT2 = 50257 * 768 + 1024 * 768 + 2 * 768  # wte + wpe + ln_f = 39,385,344
BLOCK_GPT2 = 12 * 768**2 + 13 * 768  # 7,087,872


@pytest.mark.parametrize("fwd, bwd", list(itertools.product([False, True], repeat=2)))
@pytest.mark.parametrize("policy, k", [("block", 1), ("size", 3), ("none", 1)])
def test_peak_equals_zero3_closed_form_plus_gathered_units(policy, k, fwd, bwd):
    run = fsdp.fsdp_run(12, 768, 12, 1024, 1, 8, policy, k, fwd, bwd)
    closed = fsdp.peak_closed_form(run, fwd, bwd)
    assert run.peak(("states", "params")) == pytest.approx(closed, rel=1e-12)
    assert run.zero3_bytes == zero_memory(run.total_params, 8, 3)["total"]


def test_gpt2_small_peak_by_hand():
    """No prefetch: the root unit alone; prefetch: the root unit plus the block next to it."""
    z3 = 16 * (ROOT_GPT2 + 12 * BLOCK_GPT2) / 8
    plain = fsdp.fsdp_run(12, 768, 12, 1024, 1, 8, "block", 1, False, False)
    assert plain.total_params == 124_439_808
    assert plain.peak(("states", "params")) == pytest.approx(z3 + 2 * ROOT_GPT2)
    pre = fsdp.fsdp_run(12, 768, 12, 1024, 1, 8, "block", 1, True, True)
    assert pre.peak(("states", "params")) == pytest.approx(z3 + 2 * (ROOT_GPT2 + BLOCK_GPT2))
    # a model whose blocks are larger than the root: the largest pair is two blocks
    big = fsdp.fsdp_run(8, 8192, 64, 1024, 1, 8, "block", 1, True, False)
    block = 12 * 8192**2 + 13 * 8192
    assert big.peak(("states", "params")) == pytest.approx(big.zero3_bytes + 4 * block)


def test_wrap_policies_and_the_events_of_each_unit():
    units = fsdp.wrap_units(12, 768, 1024, 50257, "size", 5)
    assert [u.name for u in units] == ["embedding + head", "blocks 0-4", "blocks 5-9", "blocks 10-11"]
    assert sum(u.params for u in units) == mc.gpt_params(12, 768)
    run = fsdp.fsdp_run(4, 256, 4, 256, 1, 4, "block", 1, False, False)
    labels = [e.label for e in run.timeline.events]
    for b in range(4):  # gathered twice (forward, backward), computed twice, reduce-scattered once
        assert labels.count(f"AG block {b}") == 2 and labels.count(f"RS block {b}") == 1
        assert labels.count(f"F block {b}") == labels.count(f"B block {b}") == 1
    # the root stays gathered from its head forward to its head backward: 3 all-gathers, not 4
    assert labels.count("AG embedding + head") == 3 and labels.count("RS embedding + head") == 1
    assert len(run.trace) == 2 * (4 + 2)
    # memory ends where it started: every gathered byte, gradient and activation freed
    assert run.memory[-1][1] == {"states": run.zero3_bytes, "params": 0.0, "grads": 0.0, "activations": 0.0}


def test_prefetch_overlaps_communication_and_shortens_the_step():
    slow = fsdp.fsdp_run(12, 768, 12, 1024, 1, 8, "block", 1, False, False, link="InfiniBand HDR")
    fast = fsdp.fsdp_run(12, 768, 12, 1024, 1, 8, "block", 1, True, True, link="InfiniBand HDR")
    assert fast.step_ms < slow.step_ms
    compute = sum(e.duration for e in slow.timeline.events if e.unit == "compute")
    # without prefetch nothing overlaps: the step is compute + all communication
    comm = sum(e.duration for e in slow.timeline.events if e.unit == "communication")
    assert slow.step_ms == pytest.approx(compute + comm - _overlap(slow), rel=1e-9)
    assert _overlap(fast) > _overlap(slow)


def _overlap(run) -> float:
    comp = [(e.start, e.end) for e in run.timeline.events if e.unit == "compute"]
    comm = [(e.start, e.end) for e in run.timeline.events if e.unit == "communication"]
    return sum(max(0.0, min(a1, b1) - max(a0, b0)) for a0, a1 in comp for b0, b1 in comm)


def test_cpu_offload_matches_deepspeed_parameter_offload():
    """Offloading parameters, the GPU holds no shards; one whole-model unit then needs 4 bytes per
    parameter (fp16 weights + gradients), DeepSpeed's largest_layer_memory for offload_param=cpu."""
    run = fsdp.fsdp_run(4, 256, 4, 256, 1, 8, "none", 1, False, False, cpu_offload=True)
    assert run.zero3_bytes == 0.0
    _, gpu = mc.deepspeed_zero3(run.total_params, run.total_params, 8, 1, True, True)
    assert run.peak(("states", "params", "grads")) == pytest.approx(gpu)
    kinds = {e.kind for e in run.timeline.events}
    assert "transfer" in kinds


def test_gpt_parameter_counts_match_published_sizes():
    for name, layers, hidden, seq, published, _ in mc.PUBLISHED:
        ours = mc.gpt_params(layers, hidden, 50257, seq)
        if isinstance(published, int):
            assert ours == published, name
        else:
            assert abs(ours / published - 1) < 0.005, name
    # Megatron-LM's formula drops the 9h biases per layer and the learned positions
    assert mc.gpt_params(48, 1600) - mc.megatron_params(48, 1600) == 48 * 9 * 1600 + 1024 * 1600


def test_deepspeed_zero3_estimator_reproduces_its_t5_small_printout():
    total, largest = 60_506_624, 32128 * 512
    printed = {(True, True): (1.52, 0.06), (True, False): (1.35, 0.17), (False, False): (0.09, 1.08)}
    for (offload, params), (cpu, gpu) in printed.items():
        got_cpu, got_gpu = mc.deepspeed_zero3(total, largest, 1, 1, offload, params)
        assert round(got_cpu / GiB, 2) == cpu and round(got_gpu / GiB, 2) == gpu


def test_conventions_table_and_communication_volumes():
    rows = {r.convention: r for r in mc.conventions_table(7.5e9, 2e8, 8, 8)}
    assert rows["DP (K = 12)"].bytes_per_param == 16.0
    assert rows["ZeRO-3 (K = 12)"].gpu_bytes == pytest.approx(16 * 7.5e9 / 64)
    assert rows["ZeRO-2"].bytes_per_param == pytest.approx(4 + 16 / 64, rel=1e-6)
    assert rows["Megatron-LM, distributed optimizer"].bytes_per_param == pytest.approx(6 + 12 / 64)
    assert [mc.zero_comm_volume(s) for s in range(4)] == [2, 2, 2, 3]
    meg, kor = mc.selective_activations_agree(2048, 1, 12288, 96, 8)
    assert meg == kor == 34 * 2048 * 12288 / 8


def test_bad_inputs_are_engine_errors():
    with pytest.raises(EngineError, match="not divisible"):
        fsdp.fsdp_run(hidden=768, heads=5)
    with pytest.raises(EngineError, match="wrap policy"):
        fsdp.fsdp_run(policy="auto")
    with pytest.raises(EngineError, match="world size N"):
        fsdp.fsdp_run(world=0)
    with pytest.raises(EngineError, match="ZeRO stage"):
        mc.zero_comm_volume(4)


def test_the_step_count_is_budgeted(monkeypatch):
    monkeypatch.setattr("engine.core.budget.MAX_STEPS", 50)
    with pytest.raises(BudgetError):
        fsdp.fsdp_run(layers=96)
