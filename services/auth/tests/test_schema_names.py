"""Auth's pydantic schemas follow the naming: Thing, ThingCreate, ThingUpdate, ThingPage."""

from berth_testing.shape import schema_naming

# action routes: their bodies ask for something to happen, they create or update no thing
COMMANDS = frozenset(
    {"UserBlock", "PasswordReset", "PasswordResetRequest", "CodeResend", "EmailVerification"}
)


def test_json_bodies_are_creates_or_updates_and_lists_are_pages(accounts_app):
    bodies, pages, problems = schema_naming(accounts_app.openapi(), COMMANDS)
    assert bodies and pages, "no JSON request bodies or pages found"
    assert problems == [], "\n".join(problems)
