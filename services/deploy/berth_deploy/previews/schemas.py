from pydantic import BaseModel, ConfigDict

from berth_deploy.apps.schemas import App
from berth_deploy.operations.schemas import Operation
from berth_deploy.validation import Branch


class PreviewCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    branch: Branch


class PreviewDeployment(BaseModel):
    """The branch's preview app and the deploy of the branch's newest commit on it."""

    preview: App
    operation: Operation
