"""Deploy's pydantic schemas follow the naming: Thing, ThingCreate, ThingUpdate, ThingPage."""

from berth_testing.shape import schema_naming

#: bodies of VPS actions (stop how, resize to what): commands on a VPS, not a thing of their own
COMMANDS = frozenset({"StopRequest", "ResizeRequest"})


def test_json_bodies_are_creates_or_updates_and_lists_are_pages(deploy_app):
    bodies, pages, problems = schema_naming(deploy_app.openapi(), COMMANDS)
    assert bodies, "no JSON request bodies found"
    assert pages == {
        "AppPage",
        "OperationPage",
        "ReleasePage",
        "VpsPage",
        "VpsOperationPage",
        "AdminVpsPage",
        "ConsoleSessionPage",
        "NodePage",
    }, pages
    assert problems == []
