"""Whether the machines of the VPSes that should run do, for monitoring's VPS checks (its TCP
check of SSH is the other half). Machine clients need `deploy:read`; people the admin role."""

from berth_common.db import SessionDep
from berth_common.routing import guarded_router
from berth_deploy.deps import SettingsDep, VpsDriverDep
from berth_deploy.instances.api import _liveness_reader
from berth_deploy.vps import liveness
from berth_deploy.vps.schemas import VpsLiveness, VpsLivenessList

router = guarded_router(_liveness_reader, prefix="/api/deploy/v1/liveness/vps", tags=["liveness"])


@router.get("", response_model=VpsLivenessList)
async def get_vps_liveness(
    session: SessionDep, settings: SettingsDep, driver: VpsDriverDep
) -> VpsLivenessList:
    items = await liveness.liveness(session, settings, driver)
    return VpsLivenessList(items=[VpsLiveness(**i) for i in items])
