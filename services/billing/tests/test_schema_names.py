"""Billing's pydantic schemas follow the naming: Thing, ThingCreate, ThingUpdate, ThingPage."""

from berth_testing.shape import schema_naming


def test_json_bodies_are_creates_or_updates_and_lists_are_pages(billing_app):
    bodies, pages, problems = schema_naming(billing_app.openapi())
    assert bodies and pages, "no JSON request bodies or pages found"
    assert problems == []
