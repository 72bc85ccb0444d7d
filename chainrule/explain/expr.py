"""The small math language of explanations: a whitelist parser and its printers.

Grammar (``^`` and ``**`` are the same operator, right-associative; unary minus
binds looser than a power, as in Python: ``-x^2`` is ``-(x^2)``)::

    expr  := term (("+" | "-") term)*
    term  := unary (("*" | "/") unary)*
    unary := ("-" | "+") unary | power
    power := atom (("^" | "**") unary)?
    atom  := NUMBER | NAME | NAME "(" expr ("," expr)* ")" | "(" expr ")"

Nothing here evaluates text: the tokenizer accepts numbers, names, the operators
above, parentheses and commas, and the parser builds a tree of the five node
kinds below. Numbers are floats. Functions must be in :data:`FUNCTIONS`.

The same trees hold the local-derivative formulas of the primitive table (when
they are in this language) and are printed as plain text (parseable again),
pretty text, LaTeX and MathML.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from chainrule.explain.errors import ExplainError

#: function name -> allowed numbers of arguments
FUNCTIONS: dict[str, tuple[int, ...]] = {
    "exp": (1,),
    "log": (1,),
    "sqrt": (1,),
    "abs": (1,),
    "sin": (1,),
    "cos": (1,),
    "tan": (1,),
    "tanh": (1,),
    "sigmoid": (1,),
    "relu": (1,),
    "max": (1, 2),
    "min": (1, 2),
    "sum": (1,),
    "mean": (1,),
}

#: names that are numbers, not variables: the seed prints sigma as 1/(1 + e^-z), so a
#: reader may type it back that way. They cannot be given values (a name with two
#: meanings in one report would mislead); printers show these exact floats by name.
CONSTANTS: dict[str, float] = {"e": math.e, "pi": math.pi}

MAX_LENGTH = 2000
MAX_DEPTH = 64
MAX_OPERATIONS = 200


# ----------------------------------------------------------------------- the tree
class Expr:
    """A node of an expression tree."""

    __slots__ = ()


@dataclass(frozen=True)
class Num(Expr):
    value: float


@dataclass(frozen=True)
class Var(Expr):
    name: str


@dataclass(frozen=True)
class Neg(Expr):
    arg: Expr


@dataclass(frozen=True)
class Bin(Expr):
    op: str  # one of + - * / ^
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Call(Expr):
    fn: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Opaque(Expr):
    """Text outside the language (``[x>0]``, ``B^T``), printed as it is."""

    text: str
    # Opaque parts never compare equal to parsed ones.
    tag: str = field(default="opaque", compare=False)


# ------------------------------------------------------------------- tokenizer
_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z_0-9]*)"
    r"|(?P<op>\*\*|[-+*/^(),]))"
)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    """(kind, text, 1-based column) for each token, then ("end", "", column)."""
    out = []
    pos = 0
    n = len(text)
    while pos < n:
        if text[pos].isspace():
            pos += 1
            continue
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            ch = text[pos]
            shown = repr(ch) if ch.isprintable() and ch not in "'\"" else f"U+{ord(ch):04X}"
            raise ExplainError(f"unexpected character {shown}", pos + 1)
        kind = m.lastgroup or "op"
        start = m.start(kind)
        out.append((kind, m.group(kind), start + 1))
        pos = m.end()
        # "2x" or "3exp(x)": a number running into a name is a mistake, not a product
        if kind == "num" and pos < n and (text[pos].isalpha() or text[pos] == "_"):
            raise ExplainError(
                f"a number cannot be followed by a name (write {m.group(kind)}*{text[pos]})",
                pos + 1,
            )
    out.append(("end", "", n + 1))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.depth = 0
        self.ops = 0

    def peek(self) -> tuple[str, str, int]:
        return self.toks[self.i]

    def take(self) -> tuple[str, str, int]:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def fail(self, tok: tuple[str, str, int], what: str | None = None) -> ExplainError:
        kind, text, col = tok
        if kind == "end":
            return ExplainError("unexpected end of expression", col)
        return ExplainError(what or f"unexpected {text!r}", col)

    def count(self, col: int) -> None:
        self.ops += 1
        if self.ops > MAX_OPERATIONS:
            raise ExplainError(f"expression too long (more than {MAX_OPERATIONS} operations)", col)

    def enter(self, col: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExplainError(f"expression nested too deeply (over {MAX_DEPTH} levels)", col)

    def parse(self) -> Expr:
        if self.peek()[0] == "end":
            raise ExplainError("empty expression", 1)
        e = self.expr()
        tok = self.peek()
        if tok[0] != "end":
            raise self.fail(tok, f"unexpected {tok[1]!r} after a complete expression")
        return e

    def expr(self) -> Expr:
        left = self.term()
        while self.peek()[1] in ("+", "-") and self.peek()[0] == "op":
            op = self.take()
            self.count(op[2])
            left = Bin(op[1], left, self.term())
        return left

    def term(self) -> Expr:
        left = self.unary()
        while self.peek()[1] in ("*", "/") and self.peek()[0] == "op":
            op = self.take()
            self.count(op[2])
            left = Bin(op[1], left, self.unary())
        return left

    def unary(self) -> Expr:
        tok = self.peek()
        if tok[0] == "op" and tok[1] in ("-", "+"):
            self.take()
            self.enter(tok[2])
            arg = self.unary()
            self.depth -= 1
            if tok[1] == "+":
                return arg
            self.count(tok[2])
            return Neg(arg)
        return self.power()

    def power(self) -> Expr:
        base = self.atom()
        tok = self.peek()
        if tok[0] == "op" and tok[1] in ("^", "**"):
            self.take()
            self.count(tok[2])
            self.enter(tok[2])
            exponent = self.unary()
            self.depth -= 1
            return Bin("^", base, exponent)
        return base

    def atom(self) -> Expr:
        tok = self.take()
        kind, text, col = tok
        if kind == "num":
            return Num(float(text))
        if kind == "name":
            if self.peek()[1] == "(" and self.peek()[0] == "op":
                return self.call(text, col)
            if text in FUNCTIONS:
                raise ExplainError(f"function {text!r} needs parentheses: {text}(...)", col)
            return Var(text)
        if kind == "op" and text == "(":
            self.enter(col)
            inner = self.expr()
            self.depth -= 1
            close = self.take()
            if close[0] == "end":
                raise ExplainError(
                    f"unexpected end of expression (the '(' at column {col} is not closed)",
                    close[2],
                )
            if close[1] != ")":
                raise self.fail(close, f"expected ')' to close the '(' at column {col}")
            return inner
        if kind == "op" and text == ")":
            raise ExplainError("unexpected ')'", col)
        raise self.fail(tok, f"unexpected {text!r}: expected a number, a name or '('")

    def call(self, name: str, col: int) -> Expr:
        if name not in FUNCTIONS:
            known = ", ".join(sorted(FUNCTIONS))
            raise ExplainError(f"unknown function {name!r} (known: {known})", col)
        self.take()  # (
        self.enter(col)
        self.count(col)
        args = []
        if self.peek()[1] == ")" and self.peek()[0] == "op":
            raise ExplainError(f"{name}() needs an argument", self.peek()[2])
        while True:
            args.append(self.expr())
            tok = self.take()
            if tok[1] == ")" and tok[0] == "op":
                break
            if tok[0] == "end":
                raise ExplainError(
                    f"unexpected end of expression (the call of {name} at column {col} "
                    "is not closed)",
                    tok[2],
                )
            if tok[1] != "," or tok[0] != "op":
                raise self.fail(tok, f"expected ',' or ')' in the call of {name} at column {col}")
        self.depth -= 1
        if len(args) not in FUNCTIONS[name]:
            want = " or ".join(str(n) for n in FUNCTIONS[name])
            raise ExplainError(f"{name}() takes {want} argument(s), got {len(args)}", col)
        return Call(name, tuple(args))


def parse(text: str) -> Expr:
    """Parse ``text`` of the expression language into a tree (never evaluates it).

    >>> parse("1/(1+exp(-z))")
    Bin(op='/', left=Num(value=1.0), right=Bin(op='+', left=Num(value=1.0), right=Call(fn='exp', args=(Neg(arg=Var(name='z')),))))
    """  # noqa: E501
    if not isinstance(text, str):
        raise ExplainError(f"an expression must be a string, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExplainError(f"expression too long ({len(text)} characters, at most {MAX_LENGTH})")
    return _Parser(text).parse()


def variables(e: Expr) -> list[str]:
    """Names of the variables in ``e``, in order of first appearance (not ``e``, ``pi``)."""
    seen: dict[str, None] = {}
    stack = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, Var):
            if x.name not in CONSTANTS:
                seen.setdefault(x.name, None)
        elif isinstance(x, Neg):
            stack.append(x.arg)
        elif isinstance(x, Bin):
            stack += [x.right, x.left]
        elif isinstance(x, Call):
            stack += reversed(x.args)
    return list(seen)


# ------------------------------------------------------------ light simplifying
def _fold(op: str, a: float, b: float) -> float | None:
    try:
        v = {
            "+": lambda: a + b,
            "-": lambda: a - b,
            "*": lambda: a * b,
            "/": lambda: a / b,
            "^": lambda: a**b if abs(b) <= 64 else None,
        }[op]()
    except (ZeroDivisionError, OverflowError, ValueError):
        return None
    if v is None or isinstance(v, complex) or not math.isfinite(v):
        return None
    return float(v)


def simplify(e: Expr) -> Expr:
    """Fold numbers and drop ones and zeros: ``2*x^(2-1)`` becomes ``2*x``."""
    if isinstance(e, Neg):
        a = simplify(e.arg)
        if isinstance(a, Num):
            return Num(-a.value + 0.0)
        if isinstance(a, Neg):
            return a.arg
        return Neg(a)
    if isinstance(e, Call):
        args = tuple(simplify(a) for a in e.args)
        if e.fn == "log" and args[0] in (Var("e"), Num(math.e)):
            return Num(1.0)  # pow's rule for the exponent, x^y·log(x), with x = e
        return Call(e.fn, args)
    if not isinstance(e, Bin):
        return e
    a, b, op = simplify(e.left), simplify(e.right), e.op
    na = a.value if isinstance(a, Num) else None
    nb = b.value if isinstance(b, Num) else None
    if na is not None and nb is not None:
        v = _fold(op, na, nb)
        if v is not None:
            return Num(v)
    if op == "+":
        if na == 0:
            return b
        if nb == 0:
            return a
        if nb is not None and nb < 0:
            return Bin("-", a, Num(-nb))
        if isinstance(b, Neg):
            return Bin("-", a, b.arg)
    if op == "-":
        if nb == 0:
            return a
        if na == 0:
            return simplify(Neg(b))
    if op == "*":
        if na == 1:
            return b
        if nb == 1:
            return a
        if na == -1:
            return simplify(Neg(b))
        if nb == -1:
            return simplify(Neg(a))
        if na == 0 or nb == 0:
            return Num(0.0)
        if isinstance(a, Neg) and isinstance(b, Neg):
            return simplify(Bin("*", a.arg, b.arg))
    if op == "/":
        if nb == 1:
            return a
        if na == 0:
            return Num(0.0)
        if isinstance(a, Num) and na is not None and na < 0:
            return Neg(Bin("/", Num(-na), b))
    if op == "^":
        if nb == 1:
            return a
        if nb == 0:
            return Num(1.0)
    return Bin(op, a, b)


def substitute(e: Expr, mapping: dict[str, Expr]) -> Expr:
    """``e`` with each variable in ``mapping`` replaced."""
    if isinstance(e, Var):
        return mapping.get(e.name, e)
    if isinstance(e, Neg):
        return Neg(substitute(e.arg, mapping))
    if isinstance(e, Bin):
        return Bin(e.op, substitute(e.left, mapping), substitute(e.right, mapping))
    if isinstance(e, Call):
        return Call(e.fn, tuple(substitute(a, mapping) for a in e.args))
    return e


# ---------------------------------------------------------------------- printing
def format_number(v: float, digits: int = 10) -> str:
    """A float in at most ``digits`` significant digits; integers without a point."""
    v = float(v)
    if v == 0:
        return "0"
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.{digits}g}"


_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "^": 4}
_NEG_PREC = 3
_ATOM = 5


def _prec(e: Expr) -> int:
    if isinstance(e, Bin):
        return _PREC[e.op]
    if isinstance(e, Neg):
        return _NEG_PREC
    if isinstance(e, Num) and (e.value < 0 or str(e.value).startswith("-")):
        return _NEG_PREC
    return _ATOM


def _needs_parens_right(op: str, right: Expr) -> bool:
    p = _prec(right)
    if op in ("-", "/"):
        return p <= _PREC[op]
    if op in ("+", "*") and isinstance(right, Num) and right.value < 0:
        return True
    return p < _PREC[op]


class _Printer:
    """Plain text in the language (``pretty=False``) or for people (``pretty=True``)."""

    def __init__(self, pretty: bool) -> None:
        self.pretty = pretty

    def __call__(self, e: Expr) -> str:
        return self.p(e)

    def wrap(self, e: Expr, parens: bool) -> str:
        s = self.p(e)
        return f"({s})" if parens else s

    def p(self, e: Expr) -> str:
        if isinstance(e, Num):
            if e.value == math.e:
                return "e"
            if e.value == math.pi:
                return "π" if self.pretty else "pi"
            return format_number(e.value, 12)
        if isinstance(e, Var) and e.name == "pi" and self.pretty:
            return "π"
        if isinstance(e, Var):
            return e.name
        if isinstance(e, Opaque):
            return e.text
        if isinstance(e, Neg):
            # -(x*y) and -(1/h) read the same without parentheses
            return "-" + self.wrap(e.arg, _prec(e.arg) < _PREC["*"])
        if isinstance(e, Call):
            return self.call(e)
        assert isinstance(e, Bin)
        op = e.op
        if op == "^":
            left = self.wrap(e.left, _prec(e.left) <= _PREC["^"])
            # e^-z, as the seed writes it: for people a negated atom needs
            # no parentheses in an exponent
            bare = self.pretty and isinstance(e.right, Neg) and _prec(e.right.arg) == _ATOM
            right = self.wrap(e.right, _prec(e.right) < _ATOM and not bare)
            return f"{left}^{right}"
        left = self.wrap(e.left, _prec(e.left) < _PREC[op])
        right = self.wrap(e.right, _needs_parens_right(op, e.right))
        if op in "+-":
            return f"{left} {op} {right}"
        if op == "*" and self.pretty:
            # sigma(z)(1 - sigma(z)) and 2x, as on paper; x·y between names. A factor 1
            # (a backward pass multiplies by the upstream 1) stays visible: 1·h, not 1h.
            if right.startswith("(") or (
                isinstance(e.left, Num)
                and isinstance(e.right, (Var, Call))
                and left[-1].isdigit()
                and left != "1"
            ):
                return f"{left}{right}"
            return f"{left}·{right}"
        return f"{left}{op}{right}"

    def call(self, e: Call) -> str:
        args = ", ".join(self.p(a) for a in e.args)
        if self.pretty:
            if e.fn == "exp":
                (a,) = e.args
                if _prec(a) == _ATOM and not isinstance(a, Call):
                    return f"e^{self.p(a)}"
                if isinstance(a, Neg) and _prec(a.arg) == _ATOM and not isinstance(a.arg, Call):
                    return f"e^{self.p(a)}"
                return f"e^({self.p(a)})"
            if e.fn == "sigmoid":
                return f"σ({args})"
            if e.fn == "abs":
                return f"|{args}|"
        return f"{e.fn}({args})"


to_text = _Printer(pretty=False)
to_pretty = _Printer(pretty=True)
