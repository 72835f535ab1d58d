"""Label and field selectors, with kube-apiserver's syntax and meaning.

Label selectors (?labelSelector=): comma-separated requirements
  key | !key | key=v | key==v | key!=v | key in (a,b) | key notin (a,b) | key>n | key<n
where != and notin also match objects without the label.
Field selectors (?fieldSelector=): comma-separated key=v | key==v | key!=v over
the fields a resource supports (resources.py lists them); a backslash escapes
',' '=' and '!' in values.
Parsing errors raise ValueError with the message the server returns (400).
"""

import re

_QUALIFIED = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_TOKEN = re.compile(r"\s*(!=|==|=|!|\(|\)|,|<|>|[^\s!=(),<>]+)")


def _split_outside_parens(text: str) -> list:
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def check_label_key(key: str) -> None:
    if len(key) > 316 or not _QUALIFIED.match(key):
        raise ValueError(f"invalid label key {key!r}")


def check_label_value(value: str) -> None:
    if len(value) > 63 or not _VALUE.match(value):
        raise ValueError(f"invalid label value: {value!r}")


class LabelSelector:
    """A parsed label selector: matches(labels dict) -> bool."""

    def __init__(self, text: str):
        self.text = text or ""
        self.reqs = []  # (key, op, values)
        if not self.text.strip():
            return
        for part in _split_outside_parens(self.text):
            self.reqs.append(self._parse(part))

    @staticmethod
    def _parse(part: str):
        toks = [t for t in _TOKEN.findall(part)]
        if not toks:
            raise ValueError(f"unable to parse requirement: empty requirement in {part!r}")
        if toks[0] == "!":
            if len(toks) != 2:
                raise ValueError(f"unable to parse requirement: {part!r}")
            check_label_key(toks[1])
            return (toks[1], "!", ())
        key, rest = toks[0], toks[1:]
        check_label_key(key)
        if not rest:
            return (key, "exists", ())
        op = rest[0]
        if op in ("=", "==", "!="):
            if len(rest) > 2:
                raise ValueError(f"unable to parse requirement: {part!r}")
            value = rest[1] if len(rest) == 2 else ""
            check_label_value(value)
            return (key, "!=" if op == "!=" else "=", (value,))
        if op in ("<", ">"):
            if len(rest) != 2 or not re.fullmatch(r"-?\d+", rest[1]):
                raise ValueError(f"unable to parse requirement: for 'gt', 'lt' operators, the value must be an integer: {part!r}")
            return (key, op, (int(rest[1]),))
        if op in ("in", "notin"):
            if len(rest) < 3 or rest[1] != "(" or rest[-1] != ")":
                raise ValueError(f"unable to parse requirement: expected a set in parentheses: {part!r}")
            values = tuple(v for v in rest[2:-1] if v != ",")
            if op == "in" and not values:
                raise ValueError(f"unable to parse requirement: for 'in' operator, values set can't be empty: {part!r}")
            for v in values:
                check_label_value(v)
            return (key, op, values)
        raise ValueError(f"unable to parse requirement: unknown operator {op!r} in {part!r}")

    def matches(self, labels: dict) -> bool:
        labels = labels or {}
        for key, op, values in self.reqs:
            has = key in labels
            v = labels.get(key)
            if op == "exists" and not has:
                return False
            if op == "!" and has:
                return False
            if op in ("=", "in") and (not has or v not in values):
                return False
            if op in ("!=", "notin") and has and v in values:
                return False
            if op in ("<", ">"):
                if not has or not re.fullmatch(r"-?\d+", v):
                    return False
                if (op == ">" and not int(v) > values[0]) or (op == "<" and not int(v) < values[0]):
                    return False
        return True


class FieldSelector:
    """A parsed field selector over a resource's supported fields:
    matches(fields dict) -> bool, where fields maps field name to value."""

    def __init__(self, text: str, supported):
        self.text = text or ""
        self.reqs = []  # (field, negate, value)
        if not self.text.strip():
            return
        for part in self._split(self.text):
            m = re.match(r"^([^=!]+)(==|=|!=)(.*)$", part.replace("\\=", "\0").replace("\\!", "\1"))
            if not m:
                raise ValueError(f"invalid selector: '{self.text}'; can't understand '{part}'")
            field, op, value = m.group(1).strip(), m.group(2), m.group(3)
            value = value.replace("\0", "=").replace("\1", "!").replace("\\\\", "\\")
            if field not in supported:
                raise ValueError(f'"{field}" is not a known field selector: only {", ".join(sorted(supported))}')
            self.reqs.append((field, op == "!=", value))

    @staticmethod
    def _split(text: str) -> list:
        parts, cur, i = [], "", 0
        while i < len(text):
            ch = text[i]
            if ch == "\\" and i + 1 < len(text) and text[i + 1] == ",":
                cur += ","
                i += 2
                continue
            if ch == ",":
                parts.append(cur)
                cur = ""
            else:
                cur += ch
            i += 1
        parts.append(cur)
        return parts

    def matches(self, fields: dict) -> bool:
        for field, negate, value in self.reqs:
            if (fields.get(field, "") == value) == negate:
                return False
        return True
