"""Errors that primitives raise: for bad input, and for a rule that must never run."""


class InputError(Exception):
    """Mixed into an error a forward raises when its message already says what is
    wrong in the caller's terms (the loss, the offending values, the allowed range):
    ``apply`` raises it unchanged, without prefixing the primitive's internal name and
    raw input shapes, which would bury the point."""


def refuse_differentiation(name: str, parent: str):
    """The rule of a primitive that a backward pass records only to be traced
    (``cr.jit`` of a first-order gradient): differentiating it is a bug, refused in
    one line rather than answered with a silent zero."""

    def rule(g, ans, *args, **params):
        raise RuntimeError(
            f"{name}: this backward pass of {parent} was recorded as not to be "
            "differentiated (cr.jit's trace of a first-order gradient), yet something "
            "differentiates it; a chainrule bug: please report it"
        )

    return rule
