"""Every error path names what went wrong: the op, the shapes, the dtypes."""

import numpy as np
import pytest

import chainrule as cr


def test_shape_mismatch_names_the_op_and_both_shapes():
    a = cr.tensor(np.ones((2, 3)), requires_grad=True)
    b = cr.tensor(np.ones(4))
    with pytest.raises(ValueError, match=r"add: .*\(2, 3\), \(4,\)"):
        a + b
    with pytest.raises(ValueError, match=r"mul: .*\(2, 3\), \(4,\)"):
        a * b


def test_matmul_mismatch_names_the_axes():
    a = cr.tensor(np.ones((2, 3)))
    b = cr.tensor(np.ones((4, 5)))
    expected = r"matmul: the last axis of a \(3\).*\(4\).*\(2, 3\), \(4, 5\)"
    with pytest.raises(ValueError, match=expected):
        a @ b
    with pytest.raises(ValueError, match="matmul: the batch axes do not broadcast"):
        cr.tensor(np.ones((2, 2, 3))) @ cr.tensor(np.ones((3, 3, 5)))
    with pytest.raises(ValueError, match="matmul: 0-d"):
        cr.matmul(cr.tensor(1.0), cr.tensor(2.0))


def test_bad_axis_and_reshape_name_the_op():
    a = cr.tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"sum: axis 3 .* \(2, 3\)"):
        a.sum(axis=3)
    with pytest.raises(ValueError, match=r"reshape: cannot reshape .* \(2, 3\)"):
        a.reshape(4, 2)
    with pytest.raises(IndexError, match=r"getitem: index 5 .*\(2, 3\)"):
        a[5]


@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
def test_integer_and_boolean_tensors_cannot_require_grad(dtype):
    expected = f"only floating-point tensors can require gradients.*{dtype}"
    with pytest.raises(TypeError, match=expected):
        cr.tensor(np.zeros(2, dtype=dtype), requires_grad=True)
    t = cr.tensor(np.zeros(2, dtype=dtype))
    with pytest.raises(TypeError, match="only floating-point"):
        t.requires_grad = True


def test_gradcheck_refuses_integer_inputs():
    t = cr.tensor([1, 2])
    t._requires_grad = True  # forced past the constructor's check
    with pytest.raises(TypeError, match="gradcheck input 0 has dtype int64"):
        cr.gradcheck(lambda x: x * 2.0, (t,))


def test_non_scalar_backward_without_grad():
    x = cr.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"only for a one-element output.*shape \(3,\).*grad="):
        (x * 2).backward()


def test_backward_grad_of_the_wrong_shape():
    x = cr.tensor(np.ones(3), requires_grad=True)
    expected = r"grad has shape \(2,\) but the output has shape \(3,\)"
    with pytest.raises(RuntimeError, match=expected):
        (x * 2).backward(np.ones(2))


def test_second_backward_after_release():
    x = cr.tensor(1.0, requires_grad=True)
    y = cr.exp(x)
    y.backward()
    with pytest.raises(RuntimeError, match="'exp' were already released.*retain_graph=True"):
        y.backward()


def test_backward_on_a_tensor_without_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.tensor(1.0).backward()
    x = cr.tensor(1.0, requires_grad=True)
    with cr.no_grad():
        y = x * 2
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_requires_grad_only_on_leaves():
    x = cr.tensor(1.0, requires_grad=True)
    with pytest.raises(RuntimeError, match="only be changed on leaf tensors"):
        (x * 2).requires_grad = False


def test_in_place_assignment_to_a_tensor_that_requires_grad():
    x = cr.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place assignment"):
        x[0] = 5.0
    c = cr.tensor(np.ones(3))
    c[0] = 5.0
    assert c.data[0] == 5.0


def test_numpy_conversion_of_a_tensor_that_requires_grad():
    x = cr.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(TypeError, match=r"requires grad.*detach"):
        np.asarray(x)
    np.testing.assert_array_equal(np.asarray(x.detach()), np.ones(3))


def test_numpy_function_without_a_rule_is_refused():
    x = cr.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(TypeError, match=r"numpy.unique has no differentiation rule.*cr.primitive"):
        np.unique(x)
    with pytest.raises(TypeError, match=r"numpy.spacing has no differentiation rule"):
        np.spacing(x)
    with pytest.raises(TypeError, match="out= is not supported"):
        np.sum(x, out=np.zeros(()))


def test_item_of_a_multi_element_tensor():
    with pytest.raises(ValueError, match=r"only one-element tensors.*\(3,\)"):
        cr.tensor(np.ones(3)).item()


def test_custom_primitive_without_rule():
    @cr.primitive(name="test_norule")
    def norule(x):
        return x * 2

    x = cr.tensor(1.0, requires_grad=True)
    with pytest.raises(NotImplementedError, match="'test_norule' has no vjp rule.*defvjp"):
        norule(x)
    with cr.no_grad():
        assert norule(x).item() == 2.0


def test_custom_primitive_may_reuse_a_builtin_name():
    # The user's function is the primitive; the built-in keeps its name in the table.
    builtin = cr.PRIMITIVES["exp"]

    @cr.primitive
    def exp(x):
        return 2 * x

    exp.defvjp(lambda g, ans, x: 2 * g)
    x = cr.tensor([1.0, 3.0], requires_grad=True)
    exp(x).sum().backward()
    np.testing.assert_allclose(x.grad.data, [2.0, 2.0])
    assert cr.PRIMITIVES["exp"] is builtin and exp is not builtin
    np.testing.assert_allclose(cr.exp(cr.tensor([0.0])).data, [1.0])
