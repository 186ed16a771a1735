"""Parallel splits of a student's graph (engine/parallel/graph_split.py) against independent oracles.

Pipeline: the bottleneck equals brute force over every cut position; running the stages one after
another, each seeing only its own parameters plus the tensors the split says cross the cut,
reproduces engine.run; the schedule with unequal stages matches GPipe's closed-form makespan and a
longest-path computation over the operations' dependency graph.
Tensor: executing the plan with numpy shards (slices of the real weights, sums for all-reduces,
concatenations for all-gathers) reproduces engine.run and torch; the shards equal megatron_mlp's;
the memory the plan reports equals the bytes the shard execution actually held.
"""

from __future__ import annotations

import itertools
import math
from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from strategies import random_cnn_graphs, random_graphs

import engine
from engine.core.cost_model import cost
from engine.core.errors import EngineError
from engine.core.ir import GraphBuilder
from engine.core.registry import get_op
from engine.kernels.roofline_model import hardware_presets
from engine.parallel import comm_volume_per_layer, measured_bubble, megatron_mlp, pipeline_schedule
from engine.parallel.graph_split import linear_partition, pipeline_split, tensor_split
from engine.parallel.pipeline import _order

PRESETS = list(engine.preset_names())


def _kernel(node, args):
    op = get_op(node.op)
    return np.asarray(op.kernel(args, {**op.attrs, **node.attr_dict}), dtype=node.dtype)


def _close(got, want):
    want = np.asarray(want)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * (1 + float(np.abs(want).max(initial=0))))


# -- pipeline split: the partition ------------------------------------------------------------
def brute_bottleneck(costs, parts):
    """The smallest possible largest stage, trying every set of parts − 1 cut positions."""
    n = len(costs)
    return min(
        max(sum(costs[a:b]) for a, b in zip((0, *cuts), (*cuts, n)))
        for cuts in itertools.combinations(range(1, n), parts - 1)
    )


def _check_split(graph, parts, measure="flops", hardware="A100 80GB SXM"):
    rows = cost(graph).nodes
    if measure == "flops":
        costs = [r.flops for r in rows]
    else:
        hw = hardware_presets()[hardware]
        costs = [max(r.flops / hw.peak_fp32, (r.bytes_read + r.bytes_written) / hw.bandwidth) for r in rows]
    split = pipeline_split(graph, parts, measure, hardware)
    names = [n for s in split.stages for n in s.nodes]
    assert names == [n.name for n in graph.op_nodes]  # contiguous, in order, all
    assert all(s.nodes for s in split.stages) and len(split.stages) == parts
    at = {n.name: c for n, c in zip(graph.op_nodes, costs)}
    for s in split.stages:
        assert s.cost == pytest.approx(sum(at[n] for n in s.nodes), rel=1e-9, abs=1e-30)
    assert split.bottleneck == max(split.costs)
    assert split.bottleneck == pytest.approx(brute_bottleneck(costs, parts), rel=1e-9, abs=1e-30)
    return split


@pytest.mark.parametrize("name", PRESETS)
def test_presets_match_brute_force_and_run_stage_by_stage(name):
    graph = engine.preset(name)
    for parts in range(1, min(4, len(graph.op_nodes)) + 1):
        split = _check_split(graph, parts)
        run_stages(graph, split)
        _check_split(graph, parts, "time", "H100 SXM")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    graph=st.one_of(random_graphs(max_nodes=8), random_cnn_graphs(max_nodes=5)),
    parts=st.integers(1, 4),
    measure=st.sampled_from(["flops", "time"]),
)
def test_random_graphs_match_brute_force(graph, parts, measure):
    assume(parts <= len(graph.op_nodes))
    split = _check_split(graph, parts, measure, "RTX 4090")
    run_stages(graph, split)


@settings(max_examples=200, deadline=None)
@given(costs=st.lists(st.integers(0, 50), min_size=1, max_size=11), parts=st.integers(1, 6))
def test_linear_partition_is_optimal(costs, parts):
    assume(parts <= len(costs))
    cuts = linear_partition(costs, parts)
    assert list(cuts) == sorted(set(cuts)) and all(0 < c < len(costs) for c in cuts)
    bounds = (0, *cuts, len(costs))
    assert max(sum(costs[a:b]) for a, b in zip(bounds, bounds[1:])) == brute_bottleneck(costs, parts)


def run_stages(graph, split, seed=0):
    """Run stage after stage: a stage holds its own parameters and constants, the graph inputs (stage
    0 only) and what the previous stage sent. A tensor missing from a send is a KeyError."""
    ref = engine.run(graph, seed=seed)
    received: dict = {}
    later_reads = [
        {i for s in split.stages[k + 1 :] for n in s.nodes for i in graph.node(n).inputs}
        for k in range(len(split.stages))
    ]
    for stage in split.stages:
        env = dict(received)
        if stage.index == 0:
            env.update({n.name: ref[n.name] for n in graph.inputs})
        weights = {}
        for name in stage.nodes:
            node = graph.node(name)
            args = []
            for i in node.inputs:
                src = graph.node(i)
                if src.op in ("param", "constant"):
                    weights.update({i: ref[i]} if src.op == "param" else {})
                    args.append(ref[i])
                else:
                    args.append(env[i])
            env[name] = _kernel(node, args)
            _close(env[name], ref[name])
        assert stage.params == sum(a.size for a in weights.values())
        assert stage.param_bytes == sum(a.nbytes for a in weights.values())
        received = {v: env[v] for v in stage.sends}
        assert stage.send_bytes == sum(a.nbytes for a in received.values())
        assert set(stage.sends) <= later_reads[stage.index]  # nothing sent needlessly
    assert split.stages[-1].sends == ()


def test_skip_connection_crosses_every_cut_it_spans():
    b = GraphBuilder("skip")
    x = b.input((2, 8), name="x")
    h = x
    for k in range(4):
        h = b.op("relu", b.op("matmul", h, b.param((8, 8), name=f"W{k}")), name=f"h{k}")
    graph = b.build([b.op("add", h, x, name="y")])
    split = pipeline_split(graph, 4)
    assert split.bottleneck == 2 * 2 * 8 * 8 + 2 * 8 + 2 * 8  # matmul, relu and the add
    assert all("x" in s.sends and s.send_bytes >= 2 * 2 * 8 * 4 for s in split.stages[:-1])
    run_stages(graph, split)


@pytest.mark.parametrize(
    "graph_args, fragment",
    [
        (("only inputs",), "no op node"),
        (("mlp", 9), "at most 6 stages"),
        (("mlp", 0), "whole number"),
        (("mlp", 2, "watts"), "measure"),
        (("mlp", 2, "time", "TPU v9"), "unknown hardware"),
    ],
)
def test_pipeline_split_errors(graph_args, fragment):
    if graph_args[0] == "only inputs":
        b = GraphBuilder()
        args = (b.build([b.input((2,), name="x")]), 1)
    else:
        args = (engine.preset(graph_args[0]), *graph_args[1:])
    with pytest.raises(EngineError, match=fragment):
        pipeline_split(*args)
    with pytest.raises(EngineError, match="needs a Graph"):
        pipeline_split("x = input([2])", 1)


# -- the schedule with measured stage times ---------------------------------------------------
def longest_path(stages, orders, fwd, bwd):
    """(start, end) of every (kind, micro-batch, stage) op: end = max(end of the device's previous
    op, end of the op it depends on) + duration — the earliest-start schedule as a longest path in
    the dependency DAG. ``orders``: per device, its ops in order."""
    before = {op: (order[k - 1] if k else None) for order in orders for k, op in enumerate(order)}

    @cache
    def end(op):
        kind, j, s = op
        dep = (
            ((kind, j, s - 1) if s > 0 else None)
            if kind == "F"
            else ((kind, j, s + 1) if s < stages - 1 else ("F", j, s))
        )
        start = max([end(o) for o in (before[op], dep) if o is not None], default=0.0)
        return start + (fwd[s] if kind == "F" else bwd[s])

    return {op: (end(op) - (fwd[op[2]] if op[0] == "F" else bwd[op[2]]), end(op)) for op in before}


def one_f_one_b(p, m, d):
    """PipeDream-Flush: p − d − 1 warm-up forwards, then one forward / one backward, then drain."""
    warm = min(p - d - 1, m)
    ops = [("F", j) for j in range(warm)]
    for i in range(m - warm):
        ops += [("F", warm + i), ("B", i)]
    return ops + [("B", j) for j in range(m - warm, m)]


def _events(timeline):
    """(kind, micro-batch, virtual stage) -> (start, end) of every event on the timeline."""
    p = len(timeline.lanes)
    out = {}
    for e in timeline.events:
        info = dict(e.info)
        stage = info["chunk"] * p + int(e.unit.split()[1])
        out[("F" if e.kind == "forward" else "B", info["micro_batch"], stage)] = (e.start, e.end)
    return out


times = st.lists(st.floats(0.1, 5.0), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(
    fwd=times,
    m=st.integers(1, 10),
    scale=st.lists(st.floats(0.5, 3.0), min_size=6, max_size=6),
    schedule=st.sampled_from(["gpipe", "1f1b"]),
)
def test_unequal_stages_match_longest_path_and_gpipe_formula(fwd, m, scale, schedule):
    p = len(fwd)
    bwd = [f * s for f, s in zip(fwd, scale)]
    tl = pipeline_schedule(p, m, schedule, stage_times=fwd, backward_times=bwd)
    tl.check_no_overlap()
    if schedule == "gpipe":
        orders = [[("F", j, d) for j in range(m)] + [("B", j, d) for j in range(m)] for d in range(p)]
    else:
        orders = [[(k, j, d) for k, j in one_f_one_b(p, m, d)] for d in range(p)]
    want = longest_path(p, orders, fwd, bwd)
    got = _events(tl)
    assert got.keys() == want.keys()
    for op in want:
        assert got[op] == pytest.approx(want[op], rel=1e-9)
    if schedule == "gpipe":
        # GPipe: each phase is a flow shop of m identical jobs: Σt + (m − 1)·max t per phase
        span = sum(fwd) + (m - 1) * max(fwd) + sum(bwd) + (m - 1) * max(bwd)
        assert tl.makespan == pytest.approx(span, rel=1e-9)
        assert measured_bubble(tl) == pytest.approx(1 - m * (sum(fwd) + sum(bwd)) / (p * span), abs=1e-9)


@settings(max_examples=20, deadline=None)
@given(
    p=st.integers(2, 4), groups=st.integers(1, 3), fwd=st.lists(st.floats(0.1, 3.0), min_size=8, max_size=8)
)
def test_interleaved_unequal_chunks_match_longest_path(p, groups, fwd):
    v, m = 2, p * groups
    fwd = fwd[: p * v]
    tl = pipeline_schedule(p, m, "interleaved", v, stage_times=fwd)
    orders = [[(k, j, c * p + d) for k, j, c in _order(d, p, m, "interleaved", v)] for d in range(p)]
    want = longest_path(p * v, orders, fwd, [2 * f for f in fwd])
    got = _events(tl)
    assert got.keys() == want.keys()
    for op in want:
        assert got[op] == pytest.approx(want[op], rel=1e-9)


@settings(max_examples=30, deadline=None)
@given(
    p=st.integers(1, 6),
    m=st.integers(1, 16),
    t=st.floats(0.25, 4.0),
    schedule=st.sampled_from(["gpipe", "1f1b"]),
)
def test_equal_stage_times_keep_the_closed_form(p, m, t, schedule):
    tl = pipeline_schedule(p, m, schedule, stage_times=(t,) * p)
    assert tl.events == pipeline_schedule(p, m, schedule, t_f=t, t_b=2 * t).events
    assert measured_bubble(tl) == pytest.approx((p - 1) / (m + p - 1), abs=1e-12)


def test_measured_split_shows_the_bubble():
    split = pipeline_split(engine.preset("resnet_basic_block"), 3)
    f = split.stage_times
    assert max(f) == 1.0 and split.balance < 1.0
    tl = split.timeline(8, "gpipe")
    span = 3 * (sum(f) + 7 * max(f))
    assert tl.makespan == pytest.approx(span)
    assert measured_bubble(tl) > (3 - 1) / (8 + 3 - 1)  # worse than equal stages


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(stage_times=(1.0, 2.0)), "one time per stage"),
        (dict(stage_times=(1.0, 0.0, 1.0)), "stage 1 takes 0.0"),
        (dict(backward_times=(1.0, 1.0, 1.0)), "needs stage_times"),
        (dict(stage_times=(1, 1, 1), backward_times=(1, 1)), "backward_times needs one time"),
        (dict(stage_times="fast"), "sequences of numbers"),
    ],
)
def test_stage_time_errors(kwargs, fragment):
    with pytest.raises(EngineError, match=fragment):
        pipeline_schedule(3, 4, "gpipe", **kwargs)


# -- tensor split -----------------------------------------------------------------------------
def run_sharded(graph, split, seed=0, inputs=None):
    """Execute the plan on ``split.devices`` simulated devices holding numpy shards only.

    Returns (every device's values, bytes of parameters each device needed, bytes of op values
    each device held) and checks every full value and output against engine.run."""
    ref = engine.run(graph, inputs, seed=seed)
    n = split.devices
    layer = {lay.node: lay for lay in split.layers}
    chain = {c: lay for lay in split.layers for c in lay.chain}
    env = [{} for _ in range(n)]
    cuts = [{} for _ in range(n)]  # param -> slices of it a device used
    held = [0] * n

    def value(d, name, cut=None):
        node = graph.node(name)
        arr = ref[name] if node.is_source else env[d][name]
        if node.op == "param":
            cuts[d].setdefault(name, set()).add((cut[0] % arr.ndim, *cut[1:]) if cut else "full")
        if cut:
            axis, lo, hi = cut
            arr = np.take(arr, np.arange(lo, hi), axis=axis)
        return arr

    for node in graph.op_nodes:
        lay = layer.get(node.name) or chain.get(node.name)
        if lay is None or lay.kind == "replicated":
            outs = [_kernel(node, [value(d, i) for i in node.inputs]) for d in range(n)]
            for d in range(n):
                env[d][node.name] = outs[d]
                held[d] += outs[d].nbytes
            continue
        outs = []
        for d, (lo, hi) in enumerate(lay.ranges):
            if node.name in chain:
                args = [value(d, i, (-1, lo, hi) if i in lay.sliced else None) for i in node.inputs]
            else:
                args = [value(d, node.inputs[0]), value(d, lay.weight, (lay.weight_axis, lo, hi))]
                if lay.kind != "row":
                    args += [value(d, c, (-1, lo, hi) if c in lay.sliced else None) for c in node.inputs[2:]]
            outs.append(_kernel(node, args))
            assert node.name in chain or outs[-1].shape == lay.output_shards[d]
        if lay.kind == "row":  # all-reduce, then gemm's C once
            total = np.sum(outs, axis=0, dtype=np.float32)
            if len(node.inputs) > 2:
                total = total + np.float32(node.attr("beta", 1.0)) * value(0, node.inputs[2])
            outs = [total] * n
        elif lay.kind == "column_gather":  # all-gather along the last axis
            full = np.concatenate(outs, axis=-1)
            held = [h + o.nbytes for h, o in zip(held, outs)]
            outs = [full] * n
        for d in range(n):
            env[d][node.name] = outs[d]
            held[d] += outs[d].nbytes
    sharded = {lay.node for lay in split.layers if lay.kind == "column"} | set(chain)
    for node in graph.op_nodes:
        if node.name not in sharded:
            for d in range(n):
                _close(env[d][node.name], ref[node.name])
    params = [
        sum(_needed_bytes(ref[p.name], cuts[d].get(p.name, {"full"})) for p in graph.params) for d in range(n)
    ]
    return env, params, held


def _needed_bytes(array, slices) -> int:
    """A device needs a whole parameter unless it used exactly one slice of it."""
    if len(slices) != 1 or "full" in slices:
        return array.nbytes
    axis, lo, hi = next(iter(slices))
    return np.take(array, np.arange(lo, hi), axis=axis).nbytes


def _check_tensor_split(graph, n, seed=0):
    split = tensor_split(graph, n)
    env, params, held = run_sharded(graph, split, seed)
    assert split.param_bytes == tuple(params)
    assert split.activation_bytes == tuple(held)
    if n == 1:
        assert split.param_bytes == (split.unsplit_param_bytes,)
    return split, env


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_mlp_preset_runs_on_shards(n):
    graph = engine.preset("mlp")
    split, _ = _check_tensor_split(graph, n)
    first, second = split.layers
    assert (first.kind, second.kind) == ("column", "row")
    assert first.chain == ("add#1", "h") and first.sliced == ("b1",)
    assert [s[1] for s in first.weight_shards] == [len(a) for a in np.array_split(np.arange(32), n)]
    assert split.collectives == (second.collective,)
    # the all-reduce message is the row layer's whole output, as in Megatron's per-layer traffic
    volume = comm_volume_per_layer(4, 1, 10, n, bytes_per=4)
    assert second.collective.kind == "all-reduce" and second.collective.after == "matmul#2"
    assert second.collective.message_bytes == volume["message_bytes"]
    assert second.collective.sent_per_device_bytes == pytest.approx(volume["sent_per_device_bytes"] / 4)
    if n > 1:
        assert max(split.param_bytes) < split.unsplit_param_bytes


@pytest.mark.parametrize("n", [2, 4])
def test_attention_projections_gather(n):
    split, _ = _check_tensor_split(engine.preset("self_attention"), n)
    assert [(lay.node, lay.kind) for lay in split.layers] == [
        ("q", "column_gather"),
        ("k", "column_gather"),
        ("v", "column_gather"),
        ("y", "column_gather"),
    ]
    assert all(c.kind == "all-gather" and c.message_bytes == 8 * 16 * 4 for c in split.collectives)


def test_shards_equal_megatron_mlp():
    graph = engine.parse_program(
        "x = input([6, 8])\nA = param([8, 16])\na = param([16])\n"
        "B = param([16, 8])\nb = param([8])\ny = gelu(x @ A + a) @ B + b\n"
    )
    split = tensor_split(graph, 4)
    vals = engine.run(graph)
    ref = megatron_mlp(vals["x"], vals["A"], vals["B"], 4, vals["a"], vals["b"])
    col, row = split.layers
    for d, (lo, hi) in enumerate(col.ranges):
        np.testing.assert_array_equal(vals["A"][:, lo:hi], ref.a_shards[d])
        np.testing.assert_array_equal(vals["B"][lo:hi, :], ref.b_shards[d])
    assert (col.kind, row.kind, len(split.collectives)) == ("column", "row", 1)
    _check_tensor_split(graph, 4)


def test_torch_zoo_mlp_on_shards_equals_torch():
    torch = pytest.importorskip("torch")
    from engine.interop.torch_zoo import example_input, zoo_graph, zoo_module

    graph = zoo_graph("mlp")
    split = tensor_split(graph, 4)
    assert [lay.kind for lay in split.layers] == ["column", "row", "column_gather"]
    assert split.layers[0].weight_axis == 0 and split.layers[1].weight_axis == 1  # trans_b = 1
    x = example_input("mlp")
    env, _, _ = run_sharded(graph, split, inputs={"x": x.numpy()})
    with torch.no_grad():
        want = zoo_module("mlp")(x).numpy()
    np.testing.assert_allclose(env[0][graph.outputs[0]], want, rtol=1e-4, atol=1e-5)


@st.composite
def mlp_programs(draw):
    """Random MLP programs: matmul or gemm(trans_b) layers, biases, activations, residuals."""
    widths = draw(st.lists(st.integers(1, 8), min_size=2, max_size=5))
    lines, h, outputs = [f"x = input([{draw(st.integers(1, 4))}, {widths[0]}])"], "x", []
    for k, (a, b) in enumerate(zip(widths, widths[1:])):
        if draw(st.booleans()):
            lines += [
                f"W{k} = param([{b}, {a}])",
                f"c{k} = param([{b}])",
                f"z{k} = gemm({h}, W{k}, c{k}, trans_b=1, alpha=0.5)",
            ]
        else:
            lines += [f"W{k} = param([{a}, {b}])", f"z{k} = {h} @ W{k}"]
            if draw(st.booleans()):
                lines += [f"b{k} = param([{b}])", f"z{k} = z{k} + b{k}"]
        act = draw(st.sampled_from(["relu", "gelu", "tanh", "sigmoid", "", "softmax"]))
        if act:
            lines.append(f"z{k} = {act}(z{k}, axis=-1)" if act == "softmax" else f"z{k} = {act}(z{k})")
        if a == b and draw(st.booleans()):
            lines.append(f"z{k} = z{k} + {h}")  # residual
        if draw(st.integers(0, 4)) == 0:
            lines.append(f"s{k} = param([1, 1])")
            lines.append(f"z{k} = z{k} * s{k}")
        if draw(st.integers(0, 5)) == 0:
            outputs.append(f"z{k}")
        h = f"z{k}"
    lines.append(f"output({', '.join(dict.fromkeys([*outputs, h]))})")
    return engine.parse_program("\n".join(lines))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph=mlp_programs(), n=st.integers(1, 5))
def test_random_mlp_programs_run_on_shards(graph, n):
    split, _ = _check_tensor_split(graph, n)
    for lay in split.layers:
        assert (lay.collective is None) == (lay.kind in ("column", "replicated"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph=random_graphs(max_nodes=8), n=st.integers(1, 4))
def test_random_graphs_run_on_shards(graph, n):
    try:
        tensor_split(graph, n)
    except EngineError as e:
        assert "no matmul or gemm layer" in str(e)
        assert not any(
            x.op in ("matmul", "gemm") and graph.node(x.inputs[1]).op == "param" for x in graph.op_nodes
        )
        return
    _check_tensor_split(graph, n)


def test_split_kinds_on_small_programs():
    three = engine.parse_program(
        "x = input([2, 8])\nA = param([8, 8])\nB = param([8, 8])\n"
        "C = param([8, 4])\ny = relu(relu(x @ A) @ B) @ C\n"
    )
    assert [lay.kind for lay in tensor_split(three, 2).layers] == ["column", "row", "column_gather"]
    residual = engine.parse_program(
        "x = input([2, 8])\nA = param([8, 8])\nB = param([8, 8])\nh = relu(x @ A)\ny = (h + x) @ B + h\n"
    )
    assert [lay.kind for lay in tensor_split(residual, 2).layers] == ["column_gather"] * 2
    narrow = engine.parse_program("x = input([2, 8])\nA = param([8, 2])\ny = x @ A\n")
    (lay,) = tensor_split(narrow, 4).layers
    assert lay.kind == "replicated" and lay.collective is None
    shared = engine.parse_program(
        "x = input([2, 8])\nA = param([8, 8])\nB = param([8, 8])\n"
        "b = param([8])\ny = relu(x @ A + b) @ B + b\nz = relu(y) @ A\n"
    )
    assert [lay.kind for lay in tensor_split(shared, 2).layers] == ["column", "row", "column_gather"]
    for graph in (three, residual, narrow, shared):
        _check_tensor_split(graph, 2)
        _check_tensor_split(graph, 4)


@pytest.mark.parametrize("name", ["conv_bn_relu", "resnet_basic_block", "autodiff_example"])
def test_tensor_split_says_when_it_cannot_apply(name):
    with pytest.raises(EngineError, match="no matmul or gemm layer.*try the mlp preset"):
        tensor_split(engine.preset(name), 2)


@pytest.mark.parametrize("n", [0, -1, 2.5, True])
def test_tensor_split_needs_a_device_count(n):
    with pytest.raises(EngineError, match="number of devices"):
        tensor_split(engine.preset("mlp"), n)


def test_results_are_frozen_and_deterministic():
    graph = engine.preset("mlp")
    assert tensor_split(graph, 2) == tensor_split(graph, 2)
    assert pipeline_split(graph, 2) == pipeline_split(graph, 2)
    with pytest.raises(AttributeError):
        tensor_split(graph, 2).devices = 3
    assert math.isclose(sum(pipeline_split(graph, 3).costs), cost(graph).flops)
