"""Deploy's pydantic schemas follow the naming: Thing, ThingCreate, ThingUpdate, ThingPage."""

from berth_testing.shape import schema_naming


def test_json_bodies_are_creates_or_updates_and_lists_are_pages(deploy_app):
    bodies, pages, problems = schema_naming(deploy_app.openapi())
    assert bodies, "no JSON request bodies found"
    assert pages == {"AppPage", "OperationPage", "ReleasePage"}, pages
    assert problems == []
