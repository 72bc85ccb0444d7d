"""cr.tree: flatten / unflatten round trips, structures, map."""

from collections import OrderedDict, namedtuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr

Point = namedtuple("Point", "x y")

_leaf = st.one_of(
    st.floats(allow_nan=False, width=64),
    st.integers(-5, 5),
    st.builds(lambda n, s: np.arange(n, dtype=np.float64) * s, st.integers(0, 4), st.floats(-2, 2)),
    st.builds(lambda v: cr.tensor(np.float64(v)), st.floats(-3, 3)),
)


def _nodes(children):
    return st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(st.text("abc", min_size=1, max_size=2), children, max_size=3),
        st.tuples(children, children).map(lambda p: Point(*p)),
        st.just(None),
    )


trees = st.recursive(_leaf, _nodes, max_leaves=12)


def _same(a, b):
    """Same structure and the very same leaf objects."""
    if isinstance(a, dict):
        return type(a) is type(b) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    return a is b


@settings(max_examples=200, deadline=None)
@given(trees)
def test_flatten_unflatten_round_trip(tree):
    leaves, treedef = cr.tree.flatten(tree)
    assert treedef.num_leaves == len(leaves)
    assert _same(cr.tree.unflatten(treedef, leaves), tree)
    assert cr.tree.leaves(tree) == leaves or all(
        a is b for a, b in zip(cr.tree.leaves(tree), leaves)
    )
    again_leaves, again = cr.tree.flatten(cr.tree.unflatten(treedef, leaves))
    assert again == treedef and hash(again) == hash(treedef)
    assert all(a is b for a, b in zip(again_leaves, leaves))


@settings(max_examples=100, deadline=None)
@given(trees)
def test_map_applies_to_every_leaf_in_order(tree):
    seen = []
    out = cr.tree.map(lambda x: seen.append(x) or len(seen), tree)
    assert cr.tree.leaves(out) == list(range(1, len(seen) + 1))
    assert cr.tree.structure(out) == cr.tree.structure(tree)


def test_nodes_and_leaves():
    tree = {"b": [1.0, (2.0, None)], "a": Point(np.ones(2), cr.tensor(3.0)), "c": OrderedDict(z=4)}
    leaves, treedef = cr.tree.flatten(tree)
    assert leaves[:3] == [1.0, 2.0, leaves[2]] and leaves[2] is tree["a"].x  # key order kept
    assert len(leaves) == 5 and leaves[4] == 4
    rebuilt = cr.tree.unflatten(treedef, range(5))
    assert rebuilt == {"b": [0, (1, None)], "a": Point(2, 3), "c": OrderedDict(z=4)}
    assert type(rebuilt["a"]) is Point and type(rebuilt["c"]) is OrderedDict
    none_leaves, none_def = cr.tree.flatten(None)  # None: a node without children
    assert none_leaves == [] and none_def.num_leaves == 0
    assert cr.tree.unflatten(none_def, []) is None
    assert cr.tree.flatten(np.ones(3))[1].num_leaves == 1  # an array is one leaf
    sorted_leaves, _ = cr.tree.flatten({"b": 1, "a": 2}, sort_keys=True)
    assert sorted_leaves == [2, 1]
    assert "Point" in repr(treedef) and "'b'" in repr(treedef)


def test_map_over_several_trees_and_structure_errors():
    assert cr.tree.map(lambda a, b: a * b, {"x": [1, 2]}, {"x": [3, 4]}) == {"x": [3, 8]}
    with pytest.raises(ValueError, match="structure"):
        cr.tree.map(lambda a, b: a, [1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="structure"):
        cr.tree.map(lambda a, b: a, {"x": 1}, {"y": 1})
    with pytest.raises(ValueError, match="has 2 leaves, got 3"):
        cr.tree.unflatten(cr.tree.structure([1, 2]), [1, 2, 3])
