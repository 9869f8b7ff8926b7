"""berth_common.mail's rules that need no database: settings, templates, SMTP refusals."""

import aiosmtplib
import pytest

from berth_common.mail import (
    MailSettings,
    Templates,
    UnsafeHeader,
    checked_subject,
    permanent_reason,
)


def test_settings_read_the_platform_wide_smtp_variables(monkeypatch):
    monkeypatch.setenv("SMTP_HOST", "mail.example.test")
    monkeypatch.setenv("SMTP_PORT", "587")
    monkeypatch.setenv("SMTP_STARTTLS", "true")
    monkeypatch.setenv("SMTP_PASSWORD", "s3cret")
    settings = MailSettings()
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_starttls) == (
        "mail.example.test",
        587,
        True,
    )
    assert settings.smtp_password.get_secret_value() == "s3cret"


@pytest.mark.parametrize("subject", ["a\r\nBcc: x", "a\nb", "a\rb"])
def test_a_subject_with_a_line_break_is_refused(subject: str):
    with pytest.raises(UnsafeHeader):
        checked_subject(subject)
    assert checked_subject("Your balance is low: 4.00 EUR") == "Your balance is low: 4.00 EUR"


def test_templates_render_and_refuse_what_they_must(tmp_path, monkeypatch):
    package = tmp_path / "mailpkg"
    (package / "templates").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "templates" / "hello.txt").write_text("Subject: Hi $name\n\nHello $name.\n")
    (package / "templates" / "bare.txt").write_text("Hello.\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    templates = Templates("mailpkg", ("hello", "bare"))

    rendered = templates.render("hello", {"name": "Mia"})
    assert (rendered.subject, rendered.body) == ("Hi Mia", "Hello Mia.\n")
    with pytest.raises(KeyError):
        templates.render("hello", {})
    with pytest.raises(UnsafeHeader):
        templates.render("hello", {"name": "Mia\r\nBcc: victim@example.test"})
    with pytest.raises(ValueError, match="Subject"):
        templates.render("bare", {})
    with pytest.raises(ValueError, match="unknown"):
        templates.render("../hello", {"name": "Mia"})


def refused(*codes: int) -> aiosmtplib.SMTPRecipientsRefused:
    return aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(code, "no", f"r{code}@x") for code in codes]
    )


@pytest.mark.parametrize(
    ("exc", "permanent"),
    [
        (refused(550), True),
        (refused(550, 551), True),
        (refused(550, 450), False),
        (refused(450), False),
        (aiosmtplib.SMTPResponseException(554, "message refused"), True),
        (aiosmtplib.SMTPResponseException(451, "try later"), False),
        (aiosmtplib.SMTPAuthenticationError(535, "bad login"), False),
        (aiosmtplib.SMTPConnectError("no route"), False),
        (aiosmtplib.SMTPServerDisconnected("gone"), False),
        (ConnectionRefusedError(), False),
        (TimeoutError(), False),
    ],
)
def test_only_5xx_refusals_are_permanent(exc: Exception, permanent: bool):
    reason = permanent_reason(exc)
    assert (reason is not None) == permanent
    if permanent:
        assert reason[:1] == "5"
