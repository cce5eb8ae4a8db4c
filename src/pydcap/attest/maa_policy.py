"""Microsoft Azure Attestation's policy language (version 1.x), the part that decides and names claims, so that a
policy written for MAA works here unchanged::

    version= 1.0;
    authorizationrules {
        [type=="x-ms-sgx-is-debuggable", value==false] && [type=="x-ms-sgx-mrsigner", value=="<hex>"] => permit();
    };
    issuancerules {
        c:[type=="x-ms-sgx-mrsigner"] => issue(type="signer", value=c.value);
    };

Conditions test the token's claims (MAA's and ``x-pydcap-*``) with ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=`` against
strings, numbers and booleans. Authorization: every rule whose conditions hold takes its action; the evidence is
authorized when some rule permitted and none denied. Issuance: each rule whose conditions hold issues its claim.
``configurationrules`` are read and ignored (they tune MAA's own processing). A policy that does not parse is
refused with the line and column.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydcap.attest.errors import PolicyParsingError

_TOKEN = re.compile(
    r"""(?P<space>\s+|//[^\n]*|/\*.*?\*/)
      | (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op>==|!=|<=|>=|=>|&&|[<>=\[\]{}();:,.])
      | (?P<name>[A-Za-z_][A-Za-z0-9_\-]*)""",
    re.VERBOSE | re.DOTALL,
)
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}  # fmt: skip
_SECTIONS = ("configurationrules", "authorizationrules", "issuancerules")


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    line: int
    column: int


@dataclass(frozen=True)
class Condition:
    binding: str | None
    claim: str
    op: str | None
    value: Any

    def holds(self, claims: dict[str, Any]) -> bool:
        if self.claim not in claims:
            return False
        if self.op is None:
            return True
        actual = claims[self.claim]
        if isinstance(actual, bool) != isinstance(self.value, bool):
            return False
        if isinstance(actual, str) and isinstance(self.value, str) and self.op in ("==", "!="):
            actual, expected = actual.lower(), self.value.lower()  # MAA compares hex measurements case-blind
        else:
            expected = self.value
        try:
            return bool(_COMPARE[self.op](actual, expected))
        except TypeError:  # a number compared with a string
            return False

    def describe(self, claims: dict[str, Any]) -> str:
        if self.claim not in claims:
            return f"no claim {self.claim}"
        return f"{self.claim} is {_literal(claims[self.claim])}, not {self.op} {_literal(self.value)}"


@dataclass(frozen=True)
class Rule:
    line: int
    conditions: tuple[Condition, ...]
    action: str  # permit, deny, issue, other
    issue_type: str | None = None
    issue_value: Any = None  # a literal, or ("bound", name) for c.value

    def matches(self, claims: dict[str, Any]) -> bool:
        return all(c.holds(claims) for c in self.conditions)

    def issued(self, claims: dict[str, Any]) -> Any:
        if isinstance(self.issue_value, tuple) and self.issue_value[:1] == ("bound",):
            bound = next(c for c in self.conditions if c.binding == self.issue_value[1])
            return claims.get(bound.claim)
        return self.issue_value


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"' if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class MaaPolicy:
    authorization: tuple[Rule, ...]
    issuance: tuple[Rule, ...]

    def failures(self, claims: dict[str, Any]) -> list[str]:
        """Why the claims are not authorized: every permitting rule that did not hold (with its first false
        condition) and every denying rule that did; empty when authorized."""
        permitted = any(r.action == "permit" and r.matches(claims) for r in self.authorization)
        denied = [
            f"rule at line {r.line} denied" for r in self.authorization if r.action == "deny" and r.matches(claims)
        ]
        if permitted and not denied:
            return []
        missed = [
            f"rule at line {r.line}: " + next(c.describe(claims) for c in r.conditions if not c.holds(claims))
            for r in self.authorization
            if r.action == "permit" and not r.matches(claims)
        ]
        if not missed and not denied:
            missed = ["no rule permits (authorizationrules has no permit())"]
        return missed + denied

    def issue(self, claims: dict[str, Any]) -> dict[str, Any]:
        """The claims the issuance rules add."""
        out: dict[str, Any] = {}
        for rule in self.issuance:
            if rule.action == "issue" and rule.issue_type and rule.matches(claims):
                out[rule.issue_type] = rule.issued(claims)
        return out


def is_maa_policy(text: str) -> bool:
    return re.match(r"\s*version\s*=", text) is not None


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = list(self._tokens(text))
        self.at = 0
        self.end = Token("end", "", text.count("\n") + 1, len(text) - text.rfind("\n"))

    @staticmethod
    def _tokens(text: str) -> list[Token]:
        out, position, line, start = [], 0, 1, 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None:
                raise PolicyParsingError(
                    f"the policy has {text[position]!r} at line {line}, column {position - start + 1}"
                )
            kind = match.lastgroup or ""
            if kind != "space":
                out.append(Token(kind, match.group(), line, position - start + 1))
            for index, char in enumerate(match.group()):
                if char == "\n":
                    line, start = line + 1, position + index + 1
            position = match.end()
        return out

    def peek(self) -> Token:
        return self.tokens[self.at] if self.at < len(self.tokens) else self.end

    def take(self, *expected: str) -> Token:
        token = self.peek()
        if expected and token.text not in expected and token.kind not in expected:
            wanted = " or ".join(repr(e) for e in expected)
            found = repr(token.text) if token.kind != "end" else "the end"
            raise PolicyParsingError(
                f"the policy has {found} at line {token.line}, column {token.column}; {wanted} expected"
            )
        self.at += 1
        return token

    def literal(self) -> Any:
        token = self.take("string", "number", "true", "false")
        if token.kind == "string":
            return token.text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        if token.kind == "number":
            return float(token.text) if "." in token.text else int(token.text)
        return token.text == "true"

    def policy(self) -> MaaPolicy:
        self.take("version")
        self.take("=")
        version = self.take("number")
        if not version.text.startswith("1"):
            raise PolicyParsingError(f"policy version {version.text} at line {version.line} is not 1.x")
        self.take(";")
        sections: dict[str, tuple[Rule, ...]] = {}
        while self.peek().kind != "end":
            name = self.take(*_SECTIONS)
            self.take("{")
            rules = []
            while self.peek().text != "}":
                rules.append(self.rule())
            self.take("}")
            self.take(";")
            sections[name.text] = tuple(rules)
        return MaaPolicy(sections.get("authorizationrules", ()), sections.get("issuancerules", ()))

    def rule(self) -> Rule:
        line = self.peek().line
        conditions: list[Condition] = []
        if self.peek().text != "=>":
            conditions.append(self.condition())
            while self.peek().text == "&&":
                self.take("&&")
                conditions.append(self.condition())
        self.take("=>")
        action = self.take("name")
        self.take("(")
        arguments: dict[str, Any] = {}
        while self.peek().text != ")":
            key = self.take("name").text
            self.take("=")
            if self.peek().kind == "name" and self.peek().text not in ("true", "false"):
                bound = self.take("name").text
                self.take(".")
                self.take("value")
                if not any(c.binding == bound for c in conditions):
                    raise PolicyParsingError(f"the rule at line {line} uses {bound}.value but binds no claim {bound}")
                arguments[key] = ("bound", bound)
            else:
                arguments[key] = self.literal()
            if self.peek().text == ",":
                self.take(",")
        self.take(")")
        self.take(";")
        name = action.text.lower()
        kind = name if name in ("permit", "deny", "issue") else "other"
        issue_type = arguments.get("type") if isinstance(arguments.get("type"), str) else None
        return Rule(line, tuple(conditions), kind, issue_type, arguments.get("value"))

    def condition(self) -> Condition:
        binding = None
        if self.peek().kind == "name":
            binding = self.take("name").text
            self.take(":")
        self.take("[")
        self.take("type")
        self.take("==")
        claim = self.literal()
        if not isinstance(claim, str):
            raise PolicyParsingError(f"a claim type at line {self.peek().line} must be a string")
        op, value = None, None
        while self.peek().text == ",":
            self.take(",")
            field = self.take("value", "issuer")
            comparison = self.take(*_COMPARE).text
            literal = self.literal()
            if field.text == "value":
                op, value = comparison, literal
        self.take("]")
        return Condition(binding, claim, op, value)


def parse_maa_policy(text: str) -> MaaPolicy:
    """Raises ``PolicyParsingError`` with the line and column of what does not parse."""
    return _Parser(text).policy()
