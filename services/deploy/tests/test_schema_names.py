"""Deploy's pydantic schemas follow the naming: Thing, ThingCreate, ThingUpdate, ThingPage."""


def _ref_names(content: dict) -> list[str]:
    schema = next(iter(content.values())).get("schema", {})
    options = schema.get("anyOf", [schema])  # an optional body is anyOf [ref, null]
    return [o["$ref"].rsplit("/", 1)[1] for o in options if "$ref" in o]


def test_json_bodies_are_creates_or_updates_and_lists_are_pages(deploy_app):
    spec = deploy_app.openapi()
    bodies, pages = set(), set()
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
    assert bodies, "no JSON request bodies found"
    for method, path, name in bodies:
        expected = ("Create",) if method == "post" else ("Update",)
        assert name.endswith(expected), (method, path, name)
    assert pages == {"AppPage", "OperationPage", "ReleasePage"}, pages
    names = set(spec["components"]["schemas"])
    assert not {n for n in names if n.endswith(("Out", "In"))}, names
