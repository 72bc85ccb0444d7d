"""nn.RNNCell, nn.LSTMCell, nn.GRUCell and nn.utils.rnn (padded and packed batches,
nn.RNN/LSTM/GRU over a PackedSequence) against torch==2.13.0 in float64: values,
gradients of inputs, states and every parameter (1e-9), random shapes and lengths;
finite differences; PyTorch's behaviour at the edges; the errors."""

import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_torch_oracle import _from_torch, _outputs, _same_everything, close, pair

import chainrule as cr
from chainrule.nn.utils import rnn as cr_rnn

t_rnn = torch.nn.utils.rnn
RNG = np.random.default_rng(19)

CELLS = {
    "RNNCell": (cr.nn.RNNCell, torch.nn.RNNCell, {}),
    "RNNCell relu": (cr.nn.RNNCell, torch.nn.RNNCell, {"nonlinearity": "relu"}),
    "LSTMCell": (cr.nn.LSTMCell, torch.nn.LSTMCell, {}),
    "GRUCell": (cr.nn.GRUCell, torch.nn.GRUCell, {}),
}
LAYERS = {
    "RNN": (cr.nn.RNN, torch.nn.RNN, {}),
    "RNN relu": (cr.nn.RNN, torch.nn.RNN, {"nonlinearity": "relu"}),
    "LSTM": (cr.nn.LSTM, torch.nn.LSTM, {}),
    "GRU": (cr.nn.GRU, torch.nn.GRU, {}),
}


def _states(kind, shape):
    """Random initial states as (chainrule, torch) arguments: a pair for the LSTMs."""
    pairs = [pair(RNG.normal(size=shape)) for _ in range(2 if "LSTM" in kind else 1)]
    if "LSTM" in kind:
        return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)
    return pairs[0]


def _check_state_grads(c_state, t_state):
    for sc, st_ in zip(_outputs(c_state), _outputs(t_state)):
        close(sc.grad, st_.grad)


# ===================================================================== cells
@pytest.mark.parametrize("kind", list(CELLS))
@settings(max_examples=40, deadline=None)
@given(
    batch=st.integers(1, 3),
    features=st.integers(1, 4),
    hidden=st.integers(1, 4),
    bias=st.booleans(),
    initial_state=st.booleans(),
    unbatched=st.booleans(),
)
def test_cells_match_torch(kind, batch, features, hidden, bias, initial_state, unbatched):
    c_cls, t_cls, extra = CELLS[kind]
    tm = t_cls(features, hidden, bias=bias, **extra)
    cm = _from_torch(c_cls(features, hidden, bias=bias, **extra), tm)
    lead = () if unbatched else (batch,)
    xc, xt = pair(RNG.normal(size=lead + (features,)))
    c_in, t_in = [xc], [xt]
    if initial_state:
        sc, st_ = _states(kind, lead + (hidden,))
        c_in.append(sc)
        t_in.append(st_)
    _same_everything(cm, tm, c_in, t_in, cm, tm)
    if initial_state:
        _check_state_grads(c_in[1], t_in[1])


@pytest.mark.parametrize("kind", ["RNN", "RNN relu", "LSTM", "GRU"])
def test_a_loop_of_cells_is_the_layer(kind):
    # The cell and the layer share their step functions: with the layer's weights,
    # the cell stepped through a sequence gives the layer's outputs and states.
    c_cls, _, extra = LAYERS[kind]
    layer = c_cls(3, 4, **extra)
    cell = getattr(cr.nn, kind.split()[0] + "Cell")(3, 4, **extra)
    cell.load_state_dict({k[: -len("_l0")]: v for k, v in layer.state_dict().items()})
    x = cr.randn(5, 2, 3)
    out, last = layer(x)
    state = None
    for t in range(5):
        state = cell(x[t], state)
        h = state[0] if kind == "LSTM" else state
        np.testing.assert_allclose(h.data, out.data[t], rtol=1e-6, atol=1e-6)
    for a, b in zip(_outputs(state), _outputs(last)):
        np.testing.assert_allclose(a.data, b.data[0], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cell_gradients_meet_finite_differences(kind):
    c_cls, _, extra = CELLS[kind]
    cell = c_cls(3, 2, **extra)
    names = [n for n, _ in cell.named_parameters()]
    params = [cr.tensor(p.data.astype(np.float64), requires_grad=True) for p in cell.parameters()]
    x = cr.tensor(RNG.normal(size=(2, 3)), requires_grad=True)
    hx = [cr.tensor(RNG.normal(size=(2, 2)), requires_grad=True) for _ in range(2)]

    def fn(x, h, c, *ps):
        state = (h, c) if kind == "LSTMCell" else h
        out = cr.func.functional_call(cell, dict(zip(names, ps)), (x, state))
        return _outputs(out)

    assert cr.gradcheck(fn, (x, *hx, *params))
    assert cr.gradgradcheck(fn, (x, *hx, *params))


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("bias", [True, False])
def test_cells_state_dict_init_and_round_trip(kind, bias):
    c_cls, t_cls, _ = CELLS[kind]
    cr.nn.manual_seed(0)
    cm, tm = c_cls(3, 5, bias=bias), t_cls(3, 5, bias=bias)
    assert list(cm.state_dict()) == list(tm.state_dict())
    assert [n for n, _ in cm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    for (name, p), q in zip(cm.named_parameters(), tm.parameters()):
        assert tuple(p.shape) == tuple(q.shape), name
    bound = 1 / np.sqrt(5)
    for name, p in cm.named_parameters():
        assert p.dtype == np.float32 and np.abs(p.data).max() <= bound, name
    pooled = np.concatenate([p.data.ravel() for p in cm.parameters()])
    assert pooled.min() < -0.8 * bound and pooled.max() > 0.8 * bound  # the whole range
    # the same draws from the same generator; float64 when asked
    again = c_cls(3, 5, bias=bias, generator=np.random.default_rng(7))
    twin = c_cls(3, 5, bias=bias, generator=np.random.default_rng(7), dtype="float64")
    for a, b in zip(again.parameters(), twin.parameters()):
        assert b.dtype == np.float64
        np.testing.assert_allclose(a.data, b.data, rtol=1e-6)
    # chainrule's weights into PyTorch and back: the same cell, the same outputs
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in cm.state_dict().items()})
    x = RNG.normal(size=(2, 3)).astype(np.float32)
    close(_outputs(cm(cr.tensor(x)))[0], _outputs(tm(torch.tensor(x)))[0], 1e-5)
    back = c_cls(3, 5, bias=bias)
    back.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    for (k, a), b in zip(back.state_dict().items(), cm.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)


@pytest.mark.parametrize(
    "kind, kw",
    [
        ("RNNCell", {}),
        ("RNNCell", {"bias": False}),
        ("RNNCell", {"nonlinearity": "relu"}),
        ("RNNCell", {"bias": False, "nonlinearity": "relu"}),
        ("LSTMCell", {}),
        ("LSTMCell", {"bias": False}),
        ("GRUCell", {}),
        ("GRUCell", {"bias": False}),
    ],
)
def test_cells_print_as_torch(kind, kw):
    assert repr(getattr(cr.nn, kind)(3, 4, **kw)) == repr(getattr(torch.nn, kind)(3, 4, **kw))


def test_cells_refuse_bad_input():
    rnn, lstm, gru = cr.nn.RNNCell(3, 4), cr.nn.LSTMCell(3, 4), cr.nn.GRUCell(3, 4)
    for cell in (rnn, lstm, gru):
        name = type(cell).__name__
        with pytest.raises(
            ValueError, match=rf"^{name}\(input_size=3\): the input's last axis is 5"
        ):
            cell(np.zeros((2, 5)))
        with pytest.raises(ValueError, match=rf"^{name}: expected an input of shape .* 3 axes"):
            cell(np.zeros((1, 2, 3)))
        with pytest.raises(ValueError, match="got 0 axes"):
            cell(np.float64(1.0))
        with pytest.raises(TypeError, match="floating-point input, got dtype int64"):
            cell(np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=re.escape("expected hx of shape (2, 4)")):
        rnn(np.zeros((2, 3)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match=re.escape("expected hx of shape (2, 4)")):
        gru(np.zeros((2, 3)), np.zeros((2, 5)))
    with pytest.raises(ValueError, match=re.escape("expected hx of shape (4,)")):
        gru(np.zeros(3), np.zeros((1, 4)))  # unbatched input, batched state
    with pytest.raises(ValueError, match=re.escape("expected hx of shape (2, 4)")):
        rnn(np.zeros((2, 3)), np.zeros(4))  # batched input, unbatched state
    with pytest.raises(ValueError, match=re.escape("expected c of shape (2, 4)")):
        lstm(np.zeros((2, 3)), (np.zeros((2, 4)), np.zeros((3, 4))))
    with pytest.raises(TypeError, match=r"^LSTMCell: hx must be a pair \(h, c\)$"):
        lstm(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu', not 'sig'"):
        cr.nn.RNNCell(3, 4, nonlinearity="sig")
    with pytest.raises(ValueError, match="hidden_size must be a whole number > 0, got 0"):
        cr.nn.GRUCell(3, 0)
    with pytest.raises(ValueError, match="input_size must be a whole number > 0, got True"):
        cr.nn.LSTMCell(True, 4)


def test_cells_take_float32_and_lists():
    # float32 parameters and input stay float32; a nested list is an input too
    cell = cr.nn.GRUCell(2, 3)
    assert cell(cr.randn(4, 2, dtype="float32")).dtype == np.float32
    assert cell([[0.5, -0.5]]).shape == (1, 3)


# ============================================================= padded batches
@settings(max_examples=30, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 4), min_size=1, max_size=4),
    trailing=st.sampled_from([(), (2,), (1, 3)]),
    batch_first=st.booleans(),
    padding_value=st.sampled_from([0.0, -1.5]),
    padding_side=st.sampled_from(["right", "left"]),
)
def test_pad_sequence_matches_torch(lengths, trailing, batch_first, padding_value, padding_side):
    pairs = [pair(RNG.normal(size=(n, *trailing))) for n in lengths]
    kw = dict(batch_first=batch_first, padding_value=padding_value, padding_side=padding_side)
    yc = cr_rnn.pad_sequence([p[0] for p in pairs], **kw)
    yt = t_rnn.pad_sequence([p[1] for p in pairs], **kw)
    close(yc, yt, 0)
    w = RNG.normal(size=tuple(yt.shape))
    (yc * w).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    for xc, xt in pairs:
        close(xc.grad, xt.grad, 0)


def _lengths_strategy():
    return st.lists(st.integers(1, 4), min_size=1, max_size=4)


def _same_packed(pc, pt):
    """The four fields agree (indices exactly)."""
    assert pc._fields == pt._fields
    close(pc.data, pt.data, 0)
    for name in ("batch_sizes", "sorted_indices", "unsorted_indices"):
        a, b = getattr(pc, name), getattr(pt, name)
        assert (a is None) == (b is None), name
        if a is not None:
            assert a.dtype == np.int64
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)


@settings(max_examples=40, deadline=None)
@given(
    lengths=_lengths_strategy(),
    extra_steps=st.integers(0, 1),
    trailing=st.sampled_from([(), (2,), (2, 1)]),
    batch_first=st.booleans(),
    enforce_sorted=st.booleans(),
    padding_value=st.sampled_from([0.0, 7.0]),
    use_total_length=st.booleans(),
)
def test_pack_and_pad_packed_match_torch(
    lengths, extra_steps, trailing, batch_first, enforce_sorted, padding_value, use_total_length
):
    if enforce_sorted:
        lengths = sorted(lengths, reverse=True)
    steps, batch = max(lengths) + extra_steps, len(lengths)
    shape = (batch, steps, *trailing) if batch_first else (steps, batch, *trailing)
    xc, xt = pair(RNG.normal(size=shape))
    kw = dict(batch_first=batch_first, enforce_sorted=enforce_sorted)
    pc = cr_rnn.pack_padded_sequence(xc, lengths, **kw)
    pt = t_rnn.pack_padded_sequence(xt, lengths, **kw)
    _same_packed(pc, pt)
    total = steps if use_total_length else None
    kw = dict(batch_first=batch_first, padding_value=padding_value, total_length=total)
    yc, lc = cr_rnn.pad_packed_sequence(pc, **kw)
    yt, lt = t_rnn.pad_packed_sequence(pt, **kw)
    close(yc, yt, 0)
    assert lc.dtype == np.int64 and lc.tolist() == lt.tolist() == list(lengths)
    # the gradient comes back to the real steps only, through both gathers
    w = RNG.normal(size=tuple(yt.shape))
    (yc * w).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    close(xc.grad, xt.grad, 0)


@settings(max_examples=20, deadline=None)
@given(
    lengths=_lengths_strategy(), enforce_sorted=st.booleans(), trailing=st.sampled_from([(), (3,)])
)
def test_pack_sequence_matches_torch(lengths, enforce_sorted, trailing):
    if enforce_sorted:
        lengths = sorted(lengths, reverse=True)
    pairs = [pair(RNG.normal(size=(n, *trailing))) for n in lengths]
    pc = cr_rnn.pack_sequence([p[0] for p in pairs], enforce_sorted=enforce_sorted)
    pt = t_rnn.pack_sequence([p[1] for p in pairs], enforce_sorted=enforce_sorted)
    _same_packed(pc, pt)
    w = RNG.normal(size=tuple(pt.data.shape))
    (pc.data * w).sum().backward()
    (pt.data * torch.tensor(w)).sum().backward()
    for xc, xt in pairs:
        close(xc.grad, xt.grad, 0)


def test_packed_sequence_is_torchs_named_tuple():
    packed = cr_rnn.pack_sequence([cr.tensor([1.0, 2.0]), cr.tensor([3.0])])
    data, batch_sizes, sorted_indices, unsorted_indices = packed
    assert isinstance(packed, tuple) and packed.data is data
    assert batch_sizes.dtype == np.int64 and batch_sizes.tolist() == [2, 1]
    assert sorted_indices is None and unsorted_indices is None
    assert packed.data.dtype == np.float32  # cr.tensor's default, as torch.tensor's
    assert packed.float() is packed and packed.to("cpu") is packed
    doubled = packed.double()
    assert doubled.data.dtype == np.float64 and doubled.batch_sizes.tolist() == [2, 1]
    assert packed.to(cr.float64).data.dtype == np.float64
    # built by hand, as PyTorch's: the inverse permutation is worked out
    made = cr_rnn.PackedSequence(cr.tensor([1.0, 2.0, 3.0]), [2, 1], [1, 0])
    theirs = t_rnn.PackedSequence(
        torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2, 1]), torch.tensor([1, 0])
    )
    assert made.unsorted_indices.tolist() == theirs.unsorted_indices.tolist() == [1, 0]
    assert cr.nn.utils.rnn is cr_rnn  # PyTorch's spelling of the module


def test_padding_and_packing_refuse_bad_input():
    x = np.zeros((3, 3, 2))
    with pytest.raises(ValueError, match=r"sorted in decreasing order when enforce_sorted=True"):
        cr_rnn.pack_padded_sequence(x, [1, 3, 2])
    with pytest.raises(ValueError, match=r"every length must be > 0 .*got \[3, 3, 0\]"):
        cr_rnn.pack_padded_sequence(x, [3, 3, 0])
    with pytest.raises(ValueError, match=r"every length must be > 0"):
        cr_rnn.pack_padded_sequence(x, [3, -1, 2], enforce_sorted=False)
    # PyTorch reads past the end here; chainrule refuses
    with pytest.raises(
        ValueError, match=r"a length of 4 is longer than the padded batch's 3 steps"
    ):
        cr_rnn.pack_padded_sequence(x, [4, 3, 1])
    with pytest.raises(ValueError, match=r"a length of 4 is longer .* 3 steps"):
        cr_rnn.pack_padded_sequence(np.zeros((2, 3, 1)), [4, 1], batch_first=True)
    with pytest.raises(ValueError, match=r"one length per sequence, 3, got 2"):
        cr_rnn.pack_padded_sequence(x, [3, 2])
    with pytest.raises(ValueError, match=r"lengths must be 1-D"):
        cr_rnn.pack_padded_sequence(x, [[3, 2, 1]])
    with pytest.raises(TypeError, match=r"lengths must be whole numbers, got \[3.0, 2.0, 1.5\]"):
        cr_rnn.pack_padded_sequence(x, [3, 2, 1.5])
    with pytest.raises(ValueError, match=r"at least 2 axes"):
        cr_rnn.pack_padded_sequence(np.zeros(3), [3])
    packed = cr_rnn.pack_padded_sequence(x, cr.tensor([3.0, 2.0, 1.0]))  # whole floats pass
    with pytest.raises(ValueError, match=r"total_length=2 is shorter than the longest sequence, 3"):
        cr_rnn.pad_packed_sequence(packed, total_length=2)
    with pytest.raises(TypeError, match=r"expected a PackedSequence, got Tensor"):
        cr_rnn.pad_packed_sequence(cr.tensor(x))
    with pytest.raises(ValueError, match=r"received an empty list of sequences"):
        cr_rnn.pad_sequence([])
    with pytest.raises(ValueError, match=r"padding_side must be 'left' or 'right', got 'middle'"):
        cr_rnn.pad_sequence([np.zeros(2)], padding_side="middle")
    with pytest.raises(ValueError, match=r"same trailing shape .*\[\(2, 3\), \(2, 4\)\]"):
        cr_rnn.pad_sequence([np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(ValueError, match=r"every length must be > 0"):
        cr_rnn.pack_sequence([np.zeros(2), np.zeros(0)])
    with pytest.raises(ValueError, match=r"batch_sizes must be positive and non-increasing"):
        cr_rnn.PackedSequence(cr.zeros(3), [1, 2])
    with pytest.raises(ValueError, match=r"data has 3 rows but batch_sizes add up to 4"):
        cr_rnn.PackedSequence(cr.zeros(3), [2, 2])
    with pytest.raises(ValueError, match=r"sorted_indices must be a permutation of 0..1"):
        cr_rnn.PackedSequence(cr.zeros(3), [2, 1], [0, 0])


# ==================================================== recurrent layers, packed
def _run_packed(rnn, module, x, lengths, hx, batch_first, enforce_sorted, total_length):
    """PyTorch's idiom, the same text for both libraries: pack, run, pad."""
    packed = rnn.pack_padded_sequence(
        x, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted
    )
    out, last = module(packed) if hx is None else module(packed, hx)
    padded, _ = rnn.pad_packed_sequence(out, batch_first=batch_first, total_length=total_length)
    return padded, last


@pytest.mark.parametrize("kind", list(LAYERS))
@settings(max_examples=40, deadline=None)
@given(
    lengths=_lengths_strategy(),
    features=st.integers(1, 3),
    hidden=st.integers(1, 3),
    layers=st.integers(1, 2),
    bidirectional=st.booleans(),
    batch_first=st.booleans(),
    bias=st.booleans(),
    initial_state=st.booleans(),
    enforce_sorted=st.booleans(),
)
def test_recurrent_layers_on_packed_input_match_torch(
    kind, lengths, features, hidden, layers, bidirectional, batch_first, bias,
    initial_state, enforce_sorted,
):  # fmt: skip
    if enforce_sorted:
        lengths = sorted(lengths, reverse=True)
    c_cls, t_cls, extra = LAYERS[kind]
    kw = dict(num_layers=layers, bidirectional=bidirectional, batch_first=batch_first, bias=bias)
    tm = t_cls(features, hidden, **kw, **extra)
    cm = _from_torch(c_cls(features, hidden, **kw, **extra), tm)
    steps, batch = max(lengths), len(lengths)
    shape = (batch, steps, features) if batch_first else (steps, batch, features)
    xc, xt = pair(RNG.normal(size=shape))
    c_in, t_in = [xc], [xt]
    if initial_state:
        sc, st_ = _states(kind, (layers * (2 if bidirectional else 1), batch, hidden))
        c_in.append(sc)
        t_in.append(st_)
    run = dict(lengths=lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)

    def call_c(x, hx=None):
        return _run_packed(cr_rnn, cm, x, hx=hx, total_length=None, **run)

    def call_t(x, hx=None):
        return _run_packed(t_rnn, tm, x, hx=hx, total_length=None, **run)

    _same_everything(cm, tm, c_in, t_in, call_c, call_t)
    if initial_state:
        _check_state_grads(c_in[1], t_in[1])
    # the packed output itself: PyTorch's fields
    packed = dict(batch_first=batch_first, enforce_sorted=enforce_sorted)
    out_c, _ = cm(cr_rnn.pack_padded_sequence(cr.tensor(xc.data), lengths, **packed))
    out_t, _ = tm(t_rnn.pack_padded_sequence(xt.detach(), lengths, **packed))
    assert isinstance(out_c, cr_rnn.PackedSequence)
    close(out_c.data, out_t.data)
    for name in ("batch_sizes", "sorted_indices", "unsorted_indices"):
        a, b = getattr(out_c, name), getattr(out_t, name)
        assert (a is None and b is None) or a.tolist() == b.tolist(), name


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("lengths", [[1], [1, 1, 1], [3, 1, 1], [1, 3, 2], [2, 4, 4, 1]], ids=str)
def test_packed_edges_match_torch(kind, lengths):
    # lengths of 1, equal lengths, unsorted ones with ties; bidirectional, 2 layers,
    # batch first, an initial state, padded back to a longer total_length
    c_cls, t_cls, _ = LAYERS[kind]
    kw = dict(num_layers=2, bidirectional=True, batch_first=True)
    tm = t_cls(2, 3, **kw)
    cm = _from_torch(c_cls(2, 3, **kw), tm)
    xc, xt = pair(RNG.normal(size=(len(lengths), 5, 2)))
    sc, st_ = _states(kind, (4, len(lengths), 3))
    run = dict(lengths=lengths, batch_first=True, enforce_sorted=False, total_length=5)
    _same_everything(
        cm,
        tm,
        [xc, sc],
        [xt, st_],
        lambda x, h: _run_packed(cr_rnn, cm, x, hx=h, **run),
        lambda x, h: _run_packed(t_rnn, tm, x, hx=h, **run),
    )
    _check_state_grads(sc, st_)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_packed_run_is_each_sequence_run_alone(kind):
    # chainrule against itself: the final states and outputs of a packed batch are
    # those of each sequence run on its own through the padded path.
    c_cls, _, _ = LAYERS[kind]
    m = c_cls(2, 3, num_layers=2, bidirectional=True, dtype="float64")
    lengths = [2, 5, 1, 5, 3]
    seqs = [cr.tensor(RNG.normal(size=(n, 2))) for n in lengths]
    out, last = m(cr_rnn.pack_sequence(seqs, enforce_sorted=False))
    padded, _ = cr_rnn.pad_packed_sequence(out)
    for j, s in enumerate(seqs):
        out_j, last_j = m(s)
        np.testing.assert_allclose(padded.data[: lengths[j], j], out_j.data, atol=1e-12)
        np.testing.assert_array_equal(padded.data[lengths[j] :, j], 0.0)
        for a, b in zip(_outputs(last), _outputs(last_j)):
            np.testing.assert_allclose(a.data[:, j], b.data, atol=1e-12)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_packed_gradients_meet_finite_differences(kind):
    c_cls, _, _ = LAYERS[kind]
    m = c_cls(2, 2, bidirectional=True, dtype="float64")
    names = [n for n, _ in m.named_parameters()]
    params = [p.detach().requires_grad_() for p in m.parameters()]
    x = cr.tensor(RNG.normal(size=(3, 3, 2)), requires_grad=True)
    h0 = cr.tensor(RNG.normal(size=(2, 3, 2)), requires_grad=True)

    def fn(x, h0, *ps):
        packed = cr_rnn.pack_padded_sequence(x, [2, 3, 1], enforce_sorted=False)
        hx = (h0, h0 * 0.5) if kind == "LSTM" else h0
        out, last = cr.func.functional_call(m, dict(zip(names, ps)), (packed, hx))
        return [cr_rnn.pad_packed_sequence(out)[0], *_outputs(last)]

    assert cr.gradcheck(fn, (x, h0, *params))


def test_dropout_between_layers_on_packed_input():
    # p = 1 zeroes the second layer's input: deterministic, so PyTorch agrees
    tm = torch.nn.GRU(3, 4, num_layers=2, dropout=1.0)
    cm = _from_torch(cr.nn.GRU(3, 4, num_layers=2, dropout=1.0), tm)
    x = RNG.normal(size=(4, 2, 3))
    run = dict(lengths=[4, 2], hx=None, batch_first=False, enforce_sorted=True, total_length=None)
    _same_everything(
        cm,
        tm,
        [pair(x)[0]],
        [pair(x)[1]],
        lambda a: _run_packed(cr_rnn, cm, a, **run),
        lambda a: _run_packed(t_rnn, tm, a, **run),
    )


def test_packed_input_to_a_layer_refuses_bad_shapes():
    lstm = cr.nn.LSTM(3, 4)
    packed = cr_rnn.pack_sequence([cr.zeros(2, 5), cr.zeros(1, 5)])
    with pytest.raises(ValueError, match=r"LSTM\(input_size=3\): a packed input's data must be"):
        lstm(packed)
    packed = cr_rnn.pack_sequence([cr.zeros(2, 3), cr.zeros(1, 3)])
    with pytest.raises(ValueError, match=re.escape("expected h0 of shape (1, 2, 4)")):
        lstm(packed, (cr.zeros(1, 3, 4), cr.zeros(1, 2, 4)))
    with pytest.raises(TypeError, match="floating-point input"):
        cr.nn.GRU(3, 4)(cr_rnn.pack_sequence([np.zeros((2, 3), dtype=np.int64)]))


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_forward_mode_meets_finite_differences(kind):
    # cr.jvp through a cell and through a packed, bidirectional layer: each tangent is
    # the central difference along the same direction
    layer = LAYERS[kind][0](2, 3, bidirectional=True, dtype="float64")
    cell = getattr(cr.nn, kind + "Cell")(2, 3, dtype="float64")

    def packed(x):
        out, last = layer(cr_rnn.pack_padded_sequence(x, [2, 4, 1], enforce_sorted=False))
        return cr.concatenate(
            [cr_rnn.pad_packed_sequence(out)[0].reshape(-1)]
            + [s.reshape(-1) for s in _outputs(last)]
        )

    def step(x):
        return cr.concatenate([s.reshape(-1) for s in _outputs(cell(x[0]))])

    x, v = RNG.normal(size=(4, 3, 2)), RNG.normal(size=(4, 3, 2))
    for fn in (packed, step):
        _, tangent = cr.jvp(fn, (cr.tensor(x),), (cr.tensor(v),))
        eps = 1e-6
        diff = (fn(cr.tensor(x + eps * v)).data - fn(cr.tensor(x - eps * v)).data) / (2 * eps)
        np.testing.assert_allclose(tangent.data, diff, rtol=1e-6, atol=1e-8)
