"""JSON with comments, and a small JSON Schema (draft-07 subset) validator with default filling.

The core trainer depends on torch alone, so it cannot rely on the `jsonschema` package; the tests
cross-check this validator against it on the shared fixtures. Supported keywords: type, enum, const,
properties, patternProperties, additionalProperties, required, minimum, maximum, exclusiveMinimum,
exclusiveMaximum, minLength, maxLength, pattern, items, minItems, maxItems, $ref (local), allOf,
if/then, default. A schema using anything else is rejected, so nothing is silently ignored.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

SUPPORTED_KEYWORDS = {
    "$schema", "$id", "title", "description", "type", "enum", "const", "properties",
    "patternProperties", "additionalProperties", "required", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern", "items",
    "minItems", "maxItems", "$ref", "allOf", "if", "then", "default", "definitions",
}


def schemas_dir() -> Path:
    """The shared schemas: $BOND_CONTRACTS_DIR/schemas, else contracts/schemas beside trainer/ (the
    repo and the packaged extension), else the copy a `pip install` put inside the package."""
    override = os.environ.get("BOND_CONTRACTS_DIR")
    if override:
        return Path(override) / "schemas"
    package = Path(__file__).resolve().parents[1]  # bond_trainer/
    beside = package.parents[1] / "contracts" / "schemas"
    return beside if beside.is_dir() else package / "schemas"


def load_schema(name: str) -> dict[str, Any]:
    path = schemas_dir() / f"{name}.schema.json"
    with open(path, encoding="utf-8") as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema


class JsoncError(ValueError):
    def __init__(self, message: str, line: int, column: int):
        super().__init__(f"line {line}, column {column}: {message}")
        self.line = line
        self.column = column


def strip_jsonc(text: str) -> str:
    """Remove // and /* */ comments and trailing commas, keeping strings and line numbers intact."""
    out: list[str] = []
    i, n = 0, len(text)
    in_string = False
    while i < n:
        ch = text[i]
        if in_string:
            out.append(ch)
            if ch == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if ch == '"':
                in_string = False
            i += 1
            continue
        if ch == '"':
            in_string = True
            out.append(ch)
            i += 1
        elif text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                line = text.count("\n", 0, i) + 1
                raise JsoncError("unterminated /* comment", line, i - text.rfind("\n", 0, i))
            # Keep newlines so that parse errors still point at the right line.
            out.append("\n" * text.count("\n", i, end))
            i = end + 2
        else:
            out.append(ch)
            i += 1
    return re.sub(r",(\s*[}\]])", r"\1", "".join(out))


# Deeper than any config or data row is: refused before the recursive readers run out of stack.
MAX_JSON_DEPTH = 64


def json_too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> Optional[tuple[int, int]]:
    """(line, column) where brackets outside strings first nest deeper than `limit`, or None."""
    depth, line, column, in_string, escaped = 0, 1, 0, False, False
    for char in text:
        column += 1
        if char == "\n":
            line, column = line + 1, 0
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return line, column
        elif char in "]}":
            depth -= 1
    return None


def parse_jsonc(text: str) -> Any:
    stripped = strip_jsonc(text)
    deep = json_too_deep(stripped)
    if deep is not None:
        raise JsoncError(f"nested more than {MAX_JSON_DEPTH} levels deep (no config is; is this the right file?)", *deep)
    try:
        return json.loads(stripped)
    except json.JSONDecodeError as error:
        raise JsoncError(error.msg, error.lineno, error.colno) from None


@dataclass(frozen=True)
class SchemaIssue:
    path: str  # dotted path of the field, "" for the root
    message: str
    rename_to: Optional[str] = None  # an unknown key that is a near miss of this known one

    def __str__(self) -> str:
        return f"{self.path or '(top level)'}: {self.message}"


def _type_matches(value: Any, type_name: str) -> bool:
    if type_name == "object":
        return isinstance(value, dict)
    if type_name == "array":
        return isinstance(value, list)
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "boolean":
        return isinstance(value, bool)
    if type_name == "null":
        return value is None
    if type_name == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and math.isfinite(value) and value.is_integer())
    if type_name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))
    raise ValueError(f"unsupported JSON Schema type {type_name!r}")


def _describe(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class Validator:
    """Validates a JSON value against a schema; optionally fills defaults into the value in place."""

    def __init__(self, schema: dict[str, Any]):
        self.root = schema
        self._check_keywords(schema, "#")

    def _check_keywords(self, schema: Any, where: str) -> None:
        if isinstance(schema, bool) or not isinstance(schema, dict):
            return
        unknown = set(schema) - SUPPORTED_KEYWORDS
        if unknown:
            raise ValueError(f"schema at {where} uses unsupported keywords {sorted(unknown)}")
        for key in ("properties", "patternProperties", "definitions"):
            for name, sub in schema.get(key, {}).items():
                self._check_keywords(sub, f"{where}/{key}/{name}")
        for key in ("items", "additionalProperties", "if", "then"):
            if key in schema:
                self._check_keywords(schema[key], f"{where}/{key}")
        for index, sub in enumerate(schema.get("allOf", [])):
            self._check_keywords(sub, f"{where}/allOf/{index}")

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            ref = schema["$ref"]
            if not ref.startswith("#/"):
                raise ValueError(f"only local $ref is supported, got {ref}")
            node: Any = self.root
            for part in ref[2:].split("/"):
                node = node[part]
            schema = node
        return schema

    def validate(self, value: Any, fill_defaults: bool = False) -> list[SchemaIssue]:
        issues: list[SchemaIssue] = []
        self._validate(value, self.root, "", issues, fill_defaults)
        return issues

    def _validate(self, value: Any, schema: Any, path: str, issues: list[SchemaIssue], fill: bool) -> None:
        if schema is True:
            return
        if schema is False:
            issues.append(SchemaIssue(path, "is not allowed here"))
            return
        schema = self._resolve(schema)
        if "type" in schema:
            types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(_type_matches(value, t) for t in types):
                issues.append(SchemaIssue(path, f"expected {' or '.join(types)}, got {_describe(value)}"))
                return
        if "const" in schema and value != schema["const"]:
            issues.append(SchemaIssue(path, f"must be {_describe(schema['const'])}, got {_describe(value)}"))
        if "enum" in schema and value not in schema["enum"]:
            allowed = ", ".join(_describe(v) for v in schema["enum"])
            issues.append(SchemaIssue(path, f"must be one of {allowed}; got {_describe(value)}"))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            self._check_number(value, schema, path, issues)
        if isinstance(value, str):
            self._check_string(value, schema, path, issues)
        if isinstance(value, list):
            self._check_array(value, schema, path, issues, fill)
        if isinstance(value, dict):
            self._check_object(value, schema, path, issues, fill)
        for sub in schema.get("allOf", []):
            self._validate(value, sub, path, issues, fill)
        if "if" in schema:
            if not self.validate_quietly(value, schema["if"]):
                return
            if "then" in schema:
                self._validate(value, schema["then"], path, issues, fill)

    def validate_quietly(self, value: Any, schema: Any) -> bool:
        probe: list[SchemaIssue] = []
        self._validate(value, schema, "", probe, False)
        return not probe

    @staticmethod
    def _check_number(value: float, schema: dict[str, Any], path: str, issues: list[SchemaIssue]) -> None:
        if "minimum" in schema and value < schema["minimum"]:
            issues.append(SchemaIssue(path, f"must be ≥ {schema['minimum']}, got {value}"))
        if "maximum" in schema and value > schema["maximum"]:
            issues.append(SchemaIssue(path, f"must be ≤ {schema['maximum']}, got {value}"))
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            issues.append(SchemaIssue(path, f"must be > {schema['exclusiveMinimum']}, got {value}"))
        if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
            issues.append(SchemaIssue(path, f"must be < {schema['exclusiveMaximum']}, got {value}"))

    @staticmethod
    def _check_string(value: str, schema: dict[str, Any], path: str, issues: list[SchemaIssue]) -> None:
        if "minLength" in schema and len(value) < schema["minLength"]:
            issues.append(SchemaIssue(path, f"must have at least {schema['minLength']} character(s)"))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            issues.append(SchemaIssue(path, f"must have at most {schema['maxLength']} characters"))
        if "pattern" in schema and not re.search(schema["pattern"], value):
            issues.append(SchemaIssue(path, f"{_describe(value)} does not match the pattern {schema['pattern']}"))

    def _check_array(self, value: list[Any], schema: dict[str, Any], path: str,
                     issues: list[SchemaIssue], fill: bool) -> None:
        if "minItems" in schema and len(value) < schema["minItems"]:
            issues.append(SchemaIssue(path, f"must have at least {schema['minItems']} item(s)"))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            issues.append(SchemaIssue(path, f"must have at most {schema['maxItems']} items"))
        if "items" in schema:
            for index, item in enumerate(value):
                self._validate(item, schema["items"], _join(path, index), issues, fill)

    def _check_object(self, value: dict[str, Any], schema: dict[str, Any], path: str,
                      issues: list[SchemaIssue], fill: bool) -> None:
        properties: dict[str, Any] = schema.get("properties", {})
        patterns: dict[str, Any] = schema.get("patternProperties", {})
        for key in schema.get("required", []):
            if key not in value:
                issues.append(SchemaIssue(_join(path, key), "is required"))
        for key, item in value.items():
            if key in properties:
                self._validate(item, properties[key], _join(path, key), issues, fill)
                continue
            matched = [sub for pattern, sub in patterns.items() if re.search(pattern, key)]
            for sub in matched:
                self._validate(item, sub, _join(path, key), issues, fill)
            if matched:
                continue
            extra = schema.get("additionalProperties", True)
            if extra is False:
                hint = difflib.get_close_matches(key, list(properties), n=1)
                known = f"did you mean {hint[0]!r}?" if hint else f"known fields: {', '.join(properties)}"
                issues.append(SchemaIssue(_join(path, key), f"unknown field; {known}", hint[0] if hint else None))
            elif isinstance(extra, dict):
                self._validate(item, extra, _join(path, key), issues, fill)
        if fill:
            for key, sub in properties.items():
                sub = self._resolve(sub)
                if key not in value and "default" in sub:
                    value[key] = json.loads(json.dumps(sub["default"]))
                    # Fill nested defaults of the section we just created.
                    self._validate(value[key], sub, _join(path, key), issues, fill)
