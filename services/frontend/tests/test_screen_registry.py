"""The screen registry: the one list the app builds its screens from holds together."""

import uuid

from berth_frontend.registry import SCREENS
from berth_frontend.web.screens import ADMIN, AREAS, MENUS, PANEL, ScreenRegistry
from berth_frontend.web.templating import make_templates


def test_every_screen_has_its_template_and_a_unique_path():
    env = make_templates().env
    for screen in SCREENS:
        assert env.get_template(screen.template), screen.template
    for area in AREAS:
        paths = [s.path for s in SCREENS if s.area is area]
        assert len(paths) == len(set(paths)), area.name


def test_every_menu_entry_opens_a_screen_of_its_area():
    registry = ScreenRegistry(SCREENS)
    for area in AREAS:
        for item in MENUS[area.name]:
            found = registry.match(area, item.path)
            assert found is not None, (area.name, item.path)
            assert found[0].menu == item.key, (area.name, item.path)


def test_screens_are_matched_by_area_and_typed_path():
    registry = ScreenRegistry(SCREENS)
    app_id = uuid.uuid4()
    screen, params = registry.match(PANEL, f"/apps/{app_id}/logs/")
    assert screen.template == "partials/apps/logs.html" and params == {"app_id": str(app_id)}
    assert registry.match(PANEL, "apps/not-an-id") is None
    assert registry.match(PANEL, "users") is None  # an admin screen, not the panel's
    assert registry.match(ADMIN, "users")[0].title == "Users"
