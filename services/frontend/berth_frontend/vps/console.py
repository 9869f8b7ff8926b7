"""A VPS's root console in the browser: a page of its own (a full load, never an htmx swap: it
has its own Content-Security-Policy) with xterm.js, opening deploy's console WebSocket through
Traefik with a single-use token made for this page load. A refresh makes a new token, and
deploy replays the console's recent output, so the screen comes back."""

import uuid

from fastapi import Request
from starlette.responses import Response

from berth_frontend.vps import service
from berth_frontend.web.access import CurrentViewer, panel_router
from berth_frontend.web.backends import ApiError
from berth_frontend.web.security import CONTENT_SECURITY_POLICY
from berth_frontend.web.templating import render

router = panel_router(prefix="/panel/vps")

# xterm.js writes its own <style> elements (cell sizes, theme): this page alone allows inline
# styles; scripts stay 'self' only, and the page shows nothing a tenant wrote but the name
CONSOLE_CSP = CONTENT_SECURITY_POLICY.replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
)


@router.get("/{vps_id}/console")
async def console_page(request: Request, viewer: CurrentViewer, vps_id: uuid.UUID) -> Response:
    backends, caller = request.app.state.backends, viewer.caller
    vps = await service.machine(backends, caller, str(vps_id))
    token, refusal = None, None
    try:
        token = await service.console_token(backends, caller, str(vps_id))
    except ApiError as exc:
        if exc.status != 409:
            raise
        refusal = exc.message
    return render(
        request,
        "vps/console.html",
        {"vps": vps, "token": token, "refusal": refusal, "kinds": service.KINDS},
        headers={"Content-Security-Policy": CONSOLE_CSP},
    )
