"""no_grad / enable_grad as context managers and decorators."""

import chainrule as cr


def test_no_grad_context():
    x = cr.tensor(1.0, requires_grad=True)
    with cr.no_grad():
        y = x * 2
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf


def test_enable_grad_inside_no_grad():
    x = cr.tensor(1.0, requires_grad=True)
    with cr.no_grad():
        with cr.enable_grad():
            y = x * 2
        z = x * 2
    assert y.requires_grad and not z.requires_grad


def test_decorators():
    x = cr.tensor(1.0, requires_grad=True)

    @cr.no_grad()
    def frozen(t):
        return t * 2

    @cr.enable_grad()
    def tracked(t):
        return t * 2

    assert not frozen(x).requires_grad
    with cr.no_grad():
        assert tracked(x).requires_grad
    assert cr.is_grad_enabled()


def test_mode_restored_after_an_exception():
    try:
        with cr.no_grad():
            raise ValueError
    except ValueError:
        pass
    assert cr.is_grad_enabled()


def test_set_grad_enabled():
    x = cr.tensor(1.0, requires_grad=True)
    with cr.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    cr.set_grad_enabled(False)
    try:
        assert not cr.is_grad_enabled()
    finally:
        cr.set_grad_enabled(True)
    assert cr.is_grad_enabled()


def test_bare_decorators():
    x = cr.tensor(1.0, requires_grad=True)

    @cr.no_grad
    def frozen(t):
        return t * 2

    @cr.enable_grad
    def tracked(t):
        return t * 2

    assert frozen.__name__ == "frozen"
    assert not frozen(x).requires_grad
    with cr.no_grad():
        assert tracked(x).requires_grad
    assert cr.is_grad_enabled()
