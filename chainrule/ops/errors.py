"""Errors that primitives raise for bad input."""


class InputError(Exception):
    """Mixed into an error a forward raises when its message already says what is
    wrong in the caller's terms (the loss, the offending values, the allowed range):
    ``apply`` raises it unchanged, without prefixing the primitive's internal name and
    raw input shapes, which would bury the point."""
