"""Rendering Liquid in messages with Customer.io's "Latest" (LiquidJS-flavoured) semantics.

Built on python-liquid. The rules that differ from plain Liquid (spec §9):
- a missing variable inside a namespace the message has (customer, trigger, ...) fails the
  render with "Variable 'customer.x' is missing", unless it is only tested by a condition or
  given a `default`; a namespace the message does not have renders empty;
- `== blank` is true for missing, nil, false and blank strings;
- Customer.io's tags (`{% unsubscribe_url %}` ...) and filters (liquid_filters.py);
- hostile templates stop at a loop, output, nesting or time limit instead of hanging.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import math
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from random import randrange
from typing import Any, TextIO, cast

from liquid import BoundTemplate, Environment, RenderContext, Token, TokenStream
from liquid.ast import Node
from liquid.builtin.expressions import (
    BooleanExpression,
    FilteredExpression,
    TernaryFilteredExpression,
    parse_arguments,
    parse_primitive,
    tokenize,
)
from liquid.builtin.expressions.logical import EqExpression, NeExpression
from liquid.builtin.expressions.primitive import Blank, RangeLiteral
from liquid.builtin.output import Output, OutputNode
from liquid.builtin.tags.echo_tag import EchoNode, EchoTag
from liquid.exceptions import (
    FilterArgumentError,
    LiquidError,
    LiquidSyntaxError,
    LiquidValueError,
    LoopIterationLimitError,
    OutputStreamLimitError,
    UndefinedError,
    UnknownFilterError,
)
from liquid.expression import Expression
from liquid.filter import with_context
from liquid.limits import to_int
from liquid.output import LimitedStringIO
from liquid.tag import Tag
from liquid.token import TOKEN_DOT, TOKEN_DPIPE, TOKEN_EXPRESSION, TOKEN_PIPE, TOKEN_TAG, TOKEN_WORD
from liquid.undefined import UNDEFINED, FalsyStrictUndefined, Undefined

from patron.domain import liquid_filters
from patron.domain.liquid_filters import as_list, group_pairs, to_text


class RenderError(Exception):
    """A template that cannot render; str(exc) is the delivery's failure_message,
    e.g. "Variable 'customer.eemail' is missing" or a syntax error with line number."""


@dataclass(frozen=True)
class TagUrls:
    """What the URL tags print for one delivery."""

    unsubscribe_url: str = ""
    manage_subscription_preferences_url: str = ""
    view_in_browser_url: str = ""
    tracking_consent_url: str = ""


@dataclass(frozen=True)
class MessageContext:
    """Everything one delivery's templates can see."""

    namespaces: Mapping[str, Any]
    delivery_id: str = "unsent"
    urls: TagUrls = TagUrls()
    top_level: Mapping[str, Any] = field(default_factory=dict)
    subscription_topic_name: str = ""


# --- variables ----------------------------------------------------------------------------


class _Missing(FalsyStrictUndefined):
    """A missing variable in a present namespace: falsy in conditions, yields to `default`,
    and raises its "is missing" error when output or used by any other filter."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Undefined) or other is None

    __hash__ = FalsyStrictUndefined.__hash__


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_NOT_FOUND = object()
# Loop and output limits bound most work; this catches costly filters run many times.
_RENDER_SECONDS = 5.0


def _path_text(path: list[object]) -> str:
    parts = [str(path[0])]
    for segment in path[1:]:
        if isinstance(segment, str) and _IDENTIFIER.fullmatch(segment):
            parts.append(f".{segment}")
        elif isinstance(segment, str):
            parts.append(f'["{segment}"]')
        else:
            parts.append(f"[{segment}]")
    return "".join(parts)


_NO_MESSAGE = MessageContext(namespaces={})


class _Context(RenderContext):
    """A render context that knows the message and counts loop iterations across the render."""

    __slots__ = ("deadline", "iterations", "message", "strict_roots")

    def __init__(
        self,
        template: BoundTemplate,
        *,
        message: MessageContext = _NO_MESSAGE,
        strict_roots: frozenset[str] = frozenset(),
        **kwargs: Any,
    ) -> None:
        super().__init__(template, **kwargs)
        self.message = message
        self.strict_roots = strict_roots
        self.iterations = 0
        self.deadline = time.monotonic() + _RENDER_SECONDS

    def check_deadline(self) -> None:
        """Stop a render that has run too long (many iterations of costly filters)."""
        if time.monotonic() > self.deadline:
            raise LiquidError("template took too long to render", token=None)

    def get(
        self, path: list[object], *, token: Token | None, default: object = UNDEFINED
    ) -> object:
        """Resolve path; missing inside a strict namespace gives a _Missing."""
        self.check_deadline()
        value = super().get(path, token=token, default=_NOT_FOUND)
        if value is not _NOT_FOUND:
            return value
        if default is not UNDEFINED:
            return default
        name = _path_text(path)
        if isinstance(path[0], str) and path[0] in self.strict_roots:
            return _Missing(name, token=token, hint=f"Variable '{name}' is missing")
        return self.env.undefined(name, token=token)

    def raise_for_loop_limit(self, length: int = 1) -> None:
        """Also bound the iterations of all loops in the render together."""
        super().raise_for_loop_limit(length)
        self.check_deadline()
        self.iterations += length
        limit = self.env.loop_iteration_limit
        if limit is not None and self.iterations > limit:
            raise LoopIterationLimitError("loop iteration limit reached", token=None)


def _message(context: RenderContext) -> MessageContext:
    return context.message if isinstance(context, _Context) else _NO_MESSAGE


# --- expressions and output ---------------------------------------------------------------


def _is_blank(value: object) -> bool:
    if isinstance(value, Undefined) or value is None or value is False:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | tuple | Mapping) and not value


class _BlankEq(EqExpression):
    """`x == blank`: true for missing, nil, false, whitespace-only text and empty collections."""

    __slots__ = ()

    def evaluate(self, context: RenderContext) -> object:
        left, right = self.left.evaluate(context), self.right.evaluate(context)
        return _is_blank(right if isinstance(left, Blank) else left)


class _BlankNe(NeExpression):
    __slots__ = ()

    def evaluate(self, context: RenderContext) -> object:
        left, right = self.left.evaluate(context), self.right.evaluate(context)
        return not _is_blank(right if isinstance(left, Blank) else left)


class _Range(RangeLiteral):
    """A range literal no longer than the loop limit (`(1..1000000000)` would eat memory)."""

    __slots__ = ()

    def evaluate(self, context: RenderContext) -> range:
        values = self._make_range(self.start.evaluate(context), self.stop.evaluate(context))
        limit = context.env.loop_iteration_limit
        try:
            too_long = limit is not None and len(values) > limit
        except OverflowError:
            too_long = True
        if too_long:
            raise LiquidValueError("range is longer than the loop limit", token=self.token)
        return values


class _OutputNode(OutputNode):
    __slots__ = ()

    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:
        """Write the value as LiquidJS would print it."""
        return buffer.write(to_text(self.expression.evaluate(context)))


class _OutputTag(Output):
    node_class = _OutputNode


class _EchoNode(EchoNode):
    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:
        """Write the value as LiquidJS would print it."""
        return buffer.write(to_text(self.expression.evaluate(context)))


class _EchoTag(EchoTag):
    node_class = _EchoNode


# --- Customer.io tags ---------------------------------------------------------------------


class _TextNode(Node):
    __slots__ = ("produce",)

    def __init__(self, token: Token, produce: Callable[[RenderContext], str]) -> None:
        super().__init__(token)
        self.produce = produce
        self.blank = False

    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:
        """Write what the tag produces for this render."""
        return buffer.write(self.produce(context))


class _MessageTag(Tag):
    """A tag printing something about the delivery; arguments (`lang='pt'`) are accepted and
    change nothing."""

    block = False
    produce: Callable[[MessageContext], str]

    def parse(self, stream: TokenStream) -> Node:
        """Parse the tag, skipping its arguments."""
        token = stream.current
        if stream.peek.kind == TOKEN_EXPRESSION:
            next(stream)
        produce = type(self).produce
        return _TextNode(token, lambda context: produce(_message(context)))


def _message_tag(name: str, produce: Callable[[MessageContext], str]) -> type[Tag]:
    attributes = {"name": name, "produce": staticmethod(produce)}
    return cast(type[Tag], type(f"_{name}_tag", (_MessageTag,), attributes))


_MESSAGE_TAGS = [
    _message_tag("unsubscribe_url", lambda m: m.urls.unsubscribe_url),
    _message_tag(
        "manage_subscription_preferences_url",
        lambda m: m.urls.manage_subscription_preferences_url,
    ),
    _message_tag("view_in_browser_url", lambda m: m.urls.view_in_browser_url),
    _message_tag("tracking_consent_url", lambda m: m.urls.tracking_consent_url),
    _message_tag("subscription_topic_name", lambda m: m.subscription_topic_name),
    _message_tag("generate_uuid", lambda _m: str(uuid.uuid4())),
]


class _RandomTag(Tag):
    """`{% random N %}`: an integer from 0 to N-1."""

    name = "random"
    block = False

    def parse(self, stream: TokenStream) -> Node:
        """Parse the upper bound."""
        token = stream.eat(TOKEN_TAG)
        bound = parse_primitive(self.env, stream.into_inner(tag=token, eat=False))

        def produce(context: RenderContext) -> str:
            limit = bound.evaluate(context)
            try:
                count = to_int(to_text(limit).strip() or 0)
            except ValueError as err:
                message = f"random expects a number, found {limit!r}"
                raise LiquidValueError(message, token=token) from err
            return str(randrange(count) if count > 0 else 0)

        return _TextNode(token, produce)


class _CioLinkTag(Tag):
    """`{% cio_link url:"..." %}`: the URL itself (Patron tracks links elsewhere)."""

    name = "cio_link"
    block = False

    def parse(self, stream: TokenStream) -> Node:
        """Parse url: and ignore track:/url_params:."""
        token = stream.eat(TOKEN_TAG)
        _args, kwargs = parse_arguments(self.env, stream.into_inner(tag=token, eat=False))
        url = next((arg.value for arg in kwargs if arg.name == "url"), None)
        if url is None:
            raise LiquidSyntaxError("cio_link needs a url argument", token=token)
        found: Expression = url
        return _TextNode(token, lambda context: to_text(found.evaluate(context)))


# --- filters that evaluate Liquid expressions, and limits on every filter -------------------


@functools.lru_cache(maxsize=256)
def _expression(env: Environment, source: str, *, condition: bool) -> Expression:
    stream = TokenStream(tokenize(source, Token(TOKEN_EXPRESSION, source, 0, source)))
    if condition:
        return BooleanExpression.parse(env, stream)
    return FilteredExpression.parse(env, stream)


def _each(
    value: object, name: object, source: object, context: RenderContext, *, condition: bool
) -> Iterator[tuple[object, object]]:
    """Each item with the expression's value while `name` is the item."""
    items = as_list(value)
    expression = _expression(context.env, to_text(source), condition=condition)
    context.raise_for_loop_limit(len(items))
    for item in items:
        with context.extend({to_text(name): item}):
            yield item, expression.evaluate(context)


@with_context
def _where_exp(value: object, name: object, source: object, *, context: RenderContext) -> object:
    """where_exp: "item", "item.age >= 18"."""
    return [item for item, ok in _each(value, name, source, context, condition=True) if ok]


@with_context
def _find_exp(value: object, name: object, source: object, *, context: RenderContext) -> object:
    """The first item for which the condition holds, or nil."""
    found = (item for item, ok in _each(value, name, source, context, condition=True) if ok)
    return next(found, None)


@with_context
def _group_by_exp(value: object, name: object, source: object, *, context: RenderContext) -> object:
    """group_by_exp: "item", "item.date | date: '%Y'"."""
    return group_pairs(_each(value, name, source, context, condition=False))


_MATH = {"plus", "minus", "times", "divided_by", "modulo", "abs", "ceil", "floor", "round"}
_MATH |= {"at_least", "at_most", "sum"}


def _js_number(result: object) -> object:
    # Integers past 2**53 become floats as in JavaScript, which also stops runaway bignums.
    if isinstance(result, int) and not isinstance(result, bool) and abs(result) > 2**53:
        return float(result) if abs(result) < 10**308 else math.copysign(math.inf, result)
    return result


def _bounded(func: Callable[..., Any], name: str, max_string: int) -> Callable[..., Any]:
    """func with the render deadline checked before, and its text result's size after; wrong
    arguments are named as such."""
    wants_context = getattr(func, "with_context", False)
    signature = inspect.signature(func)

    @with_context
    @functools.wraps(func)
    def bounded(*args: Any, context: RenderContext, **kwargs: Any) -> Any:
        if isinstance(context, _Context):
            context.check_deadline()
        if wants_context:
            kwargs["context"] = context
        try:
            result = func(*args, **kwargs)
        except TypeError as err:
            try:
                signature.bind(*args, **kwargs)
            except TypeError as wrong:
                raise FilterArgumentError(f"{name}: {wrong}", token=None) from err
            raise
        if isinstance(result, str) and len(result) > max_string:
            raise OutputStreamLimitError("filter result exceeds the output limit", token=None)
        return _js_number(result) if name in _MATH else result

    return bounded


# --- environment --------------------------------------------------------------------------


class _Environment(Environment):
    keyword_assignment = True  # `lang='pt'` and `url="..."` in tag arguments

    def __init__(self, *, output_limit: int, loop_limit: int) -> None:
        super().__init__(strict_filters=True)
        # python-liquid reads these limits as class attributes; each Renderer has its own.
        limits = {
            "loop_iteration_limit": loop_limit,
            "output_stream_limit": output_limit,
            "local_namespace_limit": 4 * output_limit,
        }
        for name, value in limits.items():
            setattr(self, name, value)
        for name in ("include", "render"):  # Customer.io has snippets as variables instead
            del self.tags[name]
        tags: list[type[Tag]] = [_OutputTag, _EchoTag, _RandomTag, _CioLinkTag, *_MESSAGE_TAGS]
        for tag in tags:
            self.add_tag(tag)
        liquid_filters.register(self, max_string=output_limit)
        self.filters.update(where_exp=_where_exp, find_exp=_find_exp, group_by_exp=_group_by_exp)
        for keyword in _KEYWORD_FILTERS:
            self.filters[keyword.capitalize()] = self.filters[keyword]
        for name, func in list(self.filters.items()):
            self.filters[name] = _bounded(func, name.lower(), output_limit)

    def tokenizer(self) -> Callable[[str], Iterator[Token]]:
        """The standard lexer, with reserved words usable as filter and property names."""
        lex = super().tokenizer()

        def tokens(source: str) -> Iterator[Token]:
            for token in lex(source):
                if token.kind == TOKEN_EXPRESSION and ("|" in token.value or "." in token.value):
                    token = token._replace(value=_unreserve(token.value))
                yield token

        return tokens

    def __hash__(self) -> int:
        # python-liquid caches a parser per equal-hashing environment; keep ours apart.
        return id(self)


# Words python-liquid's expression lexer reserves, but LiquidJS also has as filters.
_KEYWORD_FILTERS = {"contains", "limit"}


def _unreserve(expression: str) -> str:
    """Let reserved words (limit, offset, empty, ...) be names, as LiquidJS does.

    `| limit: 2` becomes `| Limit: 2` (a filter alias of the same length, so error columns
    stay right) and `plan.limit` becomes `plan["limit"]`. The lexer finds them, so string
    literals stay untouched.
    """
    try:
        tokens = list(tokenize(expression, Token(TOKEN_EXPRESSION, expression, 0, expression)))
    except LiquidError:
        return expression  # not one expression (a `liquid` tag body); left as written
    for before, token in reversed(list(itertools.pairwise(tokens))):
        reserved = token.kind == token.value and token.kind != TOKEN_WORD
        if before.kind in (TOKEN_PIPE, TOKEN_DPIPE) and token.kind in _KEYWORD_FILTERS:
            start, name = token.start_index, token.value.capitalize()
        elif before.kind == TOKEN_DOT and reserved and token.value.isalpha():
            start, name = before.start_index, f'["{token.value}"]'
        else:
            continue
        expression = expression[:start] + name + expression[token.start_index + len(token.value) :]
    return expression


def _prepare(template: BoundTemplate) -> None:
    """Apply Latest's `blank` and range rules and reject unknown filters at parse time."""
    static = RenderContext(template)
    nodes: list[Node] = list(template.nodes)
    expressions: list[Expression] = []
    while nodes:
        node = nodes.pop()
        expressions.extend(node.expressions())
        nodes.extend(node.children(static, include_partials=False))
    while expressions:
        expression = expressions.pop()
        kind = type(expression)
        if kind in (EqExpression, NeExpression):
            pair = cast(EqExpression, expression)
            if isinstance(pair.left, Blank) or isinstance(pair.right, Blank):
                expression.__class__ = _BlankEq if kind is EqExpression else _BlankNe
        elif kind is RangeLiteral:
            expression.__class__ = _Range
        elif isinstance(expression, FilteredExpression | TernaryFilteredExpression):
            tail = getattr(expression, "tail_filters", None) or []
            for filter_ in [*(expression.filters or []), *tail]:
                if filter_.name not in template.env.filters:
                    message = f"unknown filter '{filter_.name}'"
                    raise UnknownFilterError(message, token=filter_.token)
        expressions.extend(expression.children())


# --- errors -------------------------------------------------------------------------------


def _line(token: Token | None) -> int | None:
    if token is None or token.start_index < 0 or not token.source:
        return None
    return token.source.count("\n", 0, token.start_index) + 1


_UNEXPECTED_TAG = re.compile(r"unexpected tag '([^']*)'")
_INNER_TAGS = {"else", "elsif", "when", "break", "continue"}


def _unclosed_block(env: Environment, source: str) -> tuple[str, int | None] | None:
    stack: list[tuple[str, Token]] = []
    for token in env.tokenizer()(source):
        if token.kind != TOKEN_TAG:
            continue
        tag = env.tags.get(token.value)
        if tag is not None and tag.block and tag.end:
            stack.append((token.value, token))
        elif stack and token.value == f"end{stack[-1][0]}":
            stack.pop()
    return (stack[-1][0], _line(stack[-1][1])) if stack else None


def _describe(err: LiquidError, env: Environment, source: str) -> str:
    """One line for failure_message: the error and, where known, its line."""
    if isinstance(err.__cause__, RecursionError):
        return "template is nested too deeply"
    message = str(err.message if err.message is not None else type(err).__name__)
    if isinstance(err, UndefinedError):
        return message
    line = _line(err.token)
    if message.startswith("expected tag end"):
        unclosed = _unclosed_block(env, source)
        if unclosed is not None:
            message, line = f"{unclosed[0]} tag was never closed", unclosed[1]
    unexpected = _UNEXPECTED_TAG.fullmatch(message)
    if unexpected:
        name = unexpected.group(1)
        if name not in env.tags and name not in _INNER_TAGS and not name.startswith("end"):
            message = f"Unknown tag '{name}'"
    return f"{message} (line {line})" if line else message


# --- renderer -----------------------------------------------------------------------------


class Renderer:
    """Parses (with a cache) and renders message templates; safe to share between threads."""

    def __init__(self, *, output_limit: int = 1_000_000, loop_limit: int = 100_000) -> None:
        self._env = _Environment(output_limit=output_limit, loop_limit=loop_limit)
        self._output_limit = output_limit
        self._template = functools.lru_cache(maxsize=512)(self._parse)

    def _parse(self, source: str) -> BoundTemplate:
        try:
            template = self._env.from_string(source)
            _prepare(template)
        except LiquidError as err:
            raise RenderError(_describe(err, self._env, source)) from err
        except Exception as err:
            raise RenderError(f"template could not be parsed: {type(err).__name__}") from err
        return template

    def check(self, source: str) -> None:
        """Parse only; raises RenderError on syntax errors and unknown filters."""
        self._template(source)

    def render(self, source: str, context: MessageContext) -> str:
        """Render source for one delivery; raises RenderError."""
        template = self._template(source)
        namespaces = dict(context.namespaces)
        if "trigger" in namespaces and "message_data" not in namespaces:
            namespaces["message_data"] = namespaces["trigger"]
        variables = {**context.top_level, "delivery_id": context.delivery_id, **namespaces}
        render_context = _Context(
            template, globals=variables, message=context, strict_roots=frozenset(namespaces)
        )
        buffer = LimitedStringIO(limit=self._output_limit)
        try:
            template.render_with_context(render_context, buffer)
        except LiquidError as err:
            raise RenderError(_describe(err, self._env, source)) from err
        except Exception as err:
            detail = f"{type(err).__name__}: {err}"[:200]
            raise RenderError(f"template could not render: {detail}") from err
        return buffer.getvalue()
