"""What started a deploy and which commit it builds: a person's button (the branch's newest
commit from the app's repository), or an automatic source naming one exact commit."""

from dataclasses import dataclass

from berth_deploy.enums import OperationTrigger, SourceKind

AUTHOR_MAX = 200
MESSAGE_MAX = 200


@dataclass(frozen=True)
class DeployCause:
    trigger: OperationTrigger = OperationTrigger.MANUAL
    source: SourceKind = SourceKind.REPO
    # the exact commit to build; None: the newest commit of the app's branch
    commit_sha: str | None = None
    # the commit author's name (an email never: it would show in the panel and in logs)
    commit_author: str | None = None
    commit_message: str | None = None

    def columns(self) -> dict[str, str | None]:
        """The operation's columns, cut to fit (a message keeps its first line)."""
        message = (self.commit_message or "").strip().splitlines()
        return {
            "trigger": self.trigger,
            "source": self.source,
            "commit_sha": self.commit_sha,
            "commit_author": (self.commit_author or "").strip()[:AUTHOR_MAX] or None,
            "commit_message": message[0][:MESSAGE_MAX] if message else None,
        }


MANUAL = DeployCause()
