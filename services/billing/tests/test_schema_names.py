"""Billing's pydantic schemas follow the naming: Thing, ThingCreate, ThingUpdate, ThingPage."""


def _ref_name(content: dict) -> str:
    schema = next(iter(content.values()))["schema"]
    return schema["$ref"].rsplit("/", 1)[1]


def test_json_bodies_are_creates_or_updates_and_lists_are_pages(billing_app):
    spec = billing_app.openapi()
    bodies, pages = set(), set()
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                bodies.add((method, path, _ref_name(content)))
            ok = op.get("responses", {}).get("200", {}).get("content", {})
            props = next(iter(ok.values()), {}).get("schema", {})
            if "$ref" in props:
                name = _ref_name(ok)
                if {"items", "total", "pages"} <= set(
                    spec["components"]["schemas"][name].get("properties", {})
                ):
                    pages.add(name)
    assert bodies, "no JSON request bodies found"
    for method, path, name in bodies:
        expected = ("Create",) if method == "post" else ("Update",)
        assert name.endswith(expected), (method, path, name)
    assert pages and all(name.endswith("Page") for name in pages), pages
