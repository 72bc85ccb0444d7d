"""The one exception type of :mod:`chainrule.explain`."""

from __future__ import annotations


class ExplainError(ValueError):
    """Bad input to an explanation: an expression that does not parse, a missing value.

    ``str(err)`` is one line naming the problem (and, for expressions, its column).
    ``column`` is the 1-based column in the expression, or None when the problem
    is not at a place in the text.

    >>> import chainrule as cr
    >>> try:
    ...     cr.explain("exp(", z=0.5)
    ... except cr.ExplainError as err:
    ...     print(err)
    unexpected end of expression at column 5
    """

    def __init__(self, message: str, column: int | None = None) -> None:
        self.message = message
        self.column = column
        super().__init__(message if column is None else f"{message} at column {column}")
