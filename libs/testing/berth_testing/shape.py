"""Checks of STYLE.md's shape that read a service's OpenAPI document, shared by every service's
tests: request bodies are `ThingCreate` or `ThingUpdate` (or a named command), a page of results
is a `ThingPage`, and no schema keeps an `In`/`Out` suffix."""

from typing import Any


def _ref_names(content: dict[str, Any]) -> list[str]:
    schema = next(iter(content.values()), {}).get("schema", {})
    options = schema.get("anyOf", [schema])  # an optional body is anyOf [ref, null]
    return [o["$ref"].rsplit("/", 1)[1] for o in options if "$ref" in o]


def schema_naming(
    spec: dict[str, Any], commands: frozenset[str] = frozenset()
) -> tuple[set[str], set[str], list[str]]:
    """(JSON request body schemas, page schemas, problems) of an OpenAPI document. `commands`:
    bodies of action routes (verify an email, block a user) that create or update no thing."""
    bodies: set[tuple[str, str, str]] = set()
    pages: set[str] = set()
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                bodies |= {(method, path, name) for name in _ref_names(content)}
            ok = op.get("responses", {}).get("200", {}).get("content", {})
            for name in _ref_names(ok) if ok else []:
                fields = spec["components"]["schemas"][name].get("properties", {})
                if {"items", "total", "pages"} <= set(fields):
                    pages.add(name)
    problems = [
        f"{method.upper()} {path}: body {name}"
        for method, path, name in sorted(bodies)
        if name not in commands and not name.endswith(("Create", "Update"))
    ]
    problems += [f"page schema {name}" for name in sorted(pages) if not name.endswith("Page")]
    problems += [
        f"schema {name}"
        for name in sorted(spec["components"]["schemas"])
        if name.endswith(("Out", "In"))
    ]
    return {name for _, _, name in bodies}, pages, problems
