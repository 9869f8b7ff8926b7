"""Everything the app serves, listed once: its routers in matching order, and its screens.

create_app builds the app from these two lists: a router or a screen not listed is not served.
"""

from fastapi import APIRouter

from berth_frontend.admin import api as admin
from berth_frontend.admin.apps import api as admin_apps
from berth_frontend.admin.billing import api as admin_billing
from berth_frontend.admin.support import api as admin_support
from berth_frontend.admin.vps import api as admin_vps
from berth_frontend.alerts import api as alerts
from berth_frontend.apps import api as apps
from berth_frontend.apps import previews as app_previews
from berth_frontend.apps import push as apps_push
from berth_frontend.autodeploy import api as autodeploy
from berth_frontend.billing import api as billing
from berth_frontend.chat import api as chat
from berth_frontend.chat.desk import api as desk_chat
from berth_frontend.desk import api as desk
from berth_frontend.monitoring import api as monitoring
from berth_frontend.ops import api as ops
from berth_frontend.panel import api as panel
from berth_frontend.profile import api as profile
from berth_frontend.public import api as public
from berth_frontend.statuspages import api as statuspages
from berth_frontend.support import api as support
from berth_frontend.vps import api as vps
from berth_frontend.vps import console as vps_console
from berth_frontend.web.screens import ADMIN, OPS, PANEL, SUPPORT, Screen

# module routers first; the screens' catch-all paths come last
ROUTERS: list[APIRouter] = [
    public.router,
    statuspages.public,
    profile.router,
    billing.router,
    app_previews.router,  # before apps.router (its POST /{app_id}/{action})
    autodeploy.router,  # before apps' catch-all POST /partials/apps/<id>/<action>
    apps_push.router,  # before apps.router, whose /{app_id}/{action} would take its posts
    apps.router,
    vps.router,
    vps_console.router,  # a full page under /panel: before the screens' catch-all
    alerts.router,
    statuspages.router,
    monitoring.router,
    support.router,
    desk.router,
    chat.router,
    desk_chat.router,
    admin.router,
    admin_billing.router,
    admin_apps.router,
    admin_vps.router,
    ops.router,
    admin_support.router,
    panel.admin_screens,
    panel.support_screens,
    panel.panel_screens,
]

# each screen: area, path, partial template; loader, title, menu entry (a fragment is a lazy
# part of a screen: no heading, no title)
# fmt: off
SCREENS: list[Screen] = [
    # the panel: /panel/<path>, /partials/<path>
    Screen(PANEL, "", "partials/dashboard.html",
           panel.dashboard, "Dashboard", "dashboard"),
    Screen(PANEL, "apps", "partials/apps/list.html",
           apps.apps, "Apps", "apps"),
    Screen(PANEL, "apps/new", "partials/apps/new.html",
           apps.new_app, "New app", "apps"),
    Screen(PANEL, "apps/{app_id:uuid}", "partials/apps/detail.html",
           apps.app_detail, "App", "apps"),
    Screen(PANEL, "apps/{app_id:uuid}/status", "partials/apps/status.html",
           apps.app_status, "App status", "apps", fragment=True),
    Screen(PANEL, "apps/{app_id:uuid}/env", "partials/apps/env.html",
           apps.app_env, "Environment", "apps", fragment=True),
    Screen(PANEL, "apps/{app_id:uuid}/previews", "partials/apps/previews.html",
           app_previews.app_previews, "Previews", "apps", fragment=True),
    Screen(PANEL, "apps/{app_id:uuid}/autodeploy", "partials/apps/autodeploy.html",
           autodeploy.autodeploy, "Automatic deploys", "apps", fragment=True),
    Screen(PANEL, "apps/{app_id:uuid}/push", "partials/apps/push.html",
           apps_push.app_push, "Push to deploy", "apps", fragment=True),
    Screen(PANEL, "apps/{app_id:uuid}/logs", "partials/apps/logs.html",
           apps.app_logs, "Logs", "apps", fragment=True),
    Screen(PANEL, "apps/{app_id:uuid}/logs/more", "partials/apps/logs.html",
           apps.app_logs_more, "Logs", "apps", fragment=True),
    Screen(PANEL, "vps", "partials/vps/list.html",
           vps.machines, "VPS", "vps"),
    Screen(PANEL, "vps/new", "partials/vps/new.html",
           vps.new_machine, "Order a VPS", "vps"),
    Screen(PANEL, "vps/{vps_id:uuid}", "partials/vps/detail.html",
           vps.machine, "VPS", "vps"),
    Screen(PANEL, "vps/{vps_id:uuid}/status", "partials/vps/status.html",
           vps.machine_status, "VPS status", "vps", fragment=True),
    Screen(PANEL, "monitoring", "partials/monitoring/list.html",
           monitoring.monitors, "Monitoring", "monitoring"),
    Screen(PANEL, "monitoring/new", "partials/monitoring/new.html",
           monitoring.new_monitor, "Add a monitor", "monitoring"),
    Screen(PANEL, "monitoring/incidents", "partials/monitoring/incidents.html",
           monitoring.incidents, "Incidents", "monitoring"),
    Screen(PANEL, "monitoring/incidents/{incident_id:uuid}", "partials/monitoring/incident.html",
           monitoring.incident_detail, "Incident", "monitoring"),
    Screen(PANEL, "monitoring/maintenance", "partials/monitoring/maintenance.html",
           monitoring.maintenance, "Maintenance windows", "monitoring"),
    Screen(PANEL, "monitoring/{monitor_id:uuid}", "partials/monitoring/detail.html",
           monitoring.monitor_detail, "Monitor", "monitoring"),
    Screen(PANEL, "monitoring/{monitor_id:uuid}/channels", "partials/monitoring/channels.html",
           monitoring.monitor_channels, "Alert channels", "monitoring", fragment=True),
    Screen(PANEL, "billing", "partials/billing/index.html",
           billing.billing, "Billing", "billing"),
    Screen(PANEL, "billing/summary", "partials/billing/summary.html",
           billing.summary, "Balance", "billing", fragment=True),
    Screen(PANEL, "billing/ledger", "partials/billing/ledger.html",
           billing.ledger, "Ledger", "billing"),
    Screen(PANEL, "billing/usage", "partials/billing/usage.html",
           billing.usage, "Usage per instance", "billing"),
    Screen(PANEL, "billing/invoices", "partials/billing/invoices.html",
           billing.invoices, "Invoices", "billing"),
    Screen(PANEL, "monitoring/channels", "partials/alerts/list.html",
           alerts.channels, "Alert channels", "channels"),
    Screen(PANEL, "monitoring/channels/new", "partials/alerts/new.html",
           alerts.new_channel, "Add an alert channel", "channels"),
    Screen(PANEL, "monitoring/status-pages", "partials/statuspages/list.html",
           statuspages.pages, "Status pages", "statuspages"),
    Screen(PANEL, "monitoring/status-pages/new", "partials/statuspages/edit.html",
           statuspages.new_page, "New status page", "statuspages"),
    Screen(PANEL, "monitoring/status-pages/{page_id:uuid}", "partials/statuspages/edit.html",
           statuspages.edit_page, "Status page", "statuspages"),
    Screen(PANEL, "support", "partials/support/list.html",
           support.tickets, "Support", "support"),
    Screen(PANEL, "support/new", "partials/support/new.html",
           support.new_ticket, "Open a ticket", "support"),
    Screen(PANEL, "support/{ticket_id:uuid}", "partials/support/detail.html",
           support.ticket, "Ticket", "support"),
    Screen(PANEL, "chat", "partials/chat/list.html",
           chat.chats, "Chat", "chat"),
    Screen(PANEL, "chat/{conversation_id:uuid}", "partials/chat/conversation.html",
           chat.conversation, "Chat", "chat"),
    Screen(PANEL, "profile", "partials/profile/index.html",
           profile.profile, "Profile", "profile"),
    Screen(PANEL, "profile/sessions", "partials/profile/sessions.html",
           profile.sessions, "Sessions", "profile", fragment=True),
    Screen(PANEL, "profile/logins", "partials/profile/logins.html",
           profile.logins, "Login history", "profile", fragment=True),
    # the admin area: /admin/<path>, /admin/partials/<path>
    Screen(ADMIN, "", "partials/admin/overview.html",
           admin.overview, "Overview", "overview"),
    Screen(ADMIN, "users", "partials/admin/users.html",
           admin.users, "Users", "users"),
    Screen(ADMIN, "users/{user_id:uuid}", "partials/admin/user.html",
           admin.user, "User", "users"),
    Screen(ADMIN, "clients", "partials/admin/clients.html",
           admin.clients, "Machine clients", "clients"),
    Screen(ADMIN, "apps", "partials/admin/apps/list.html",
           admin_apps.apps, "All apps", "apps"),
    Screen(ADMIN, "apps/{app_id:uuid}", "partials/admin/apps/detail.html",
           admin_apps.app, "App", "apps"),
    Screen(ADMIN, "vps", "partials/admin/vps/list.html",
           admin_vps.machines, "All VPS", "vps"),
    Screen(ADMIN, "vps/consoles", "partials/admin/vps/consoles.html",
           admin_vps.console_sessions, "Console sessions", "vps"),
    Screen(ADMIN, "billing", "partials/admin/billing/accounts.html",
           admin_billing.accounts, "Billing", "billing"),
    Screen(ADMIN, "billing/accounts/{account_id:uuid}", "partials/admin/billing/account.html",
           admin_billing.account, "Account", "billing"),
    Screen(ADMIN, "billing/payments", "partials/admin/billing/payments.html",
           admin_billing.payments, "Payments", "billing"),
    Screen(ADMIN, "billing/plans", "partials/admin/billing/plans.html",
           admin_billing.plans, "Plans", "billing"),
    # the on-call pages: /ops/queues..., /ops/partials/<path>
    Screen(OPS, "queues", "partials/ops/queues.html",
           ops.queues, "Queues", "queues"),
    Screen(OPS, "queues/{queue}", "partials/ops/queue.html",
           ops.queue, "Queue", "queues"),
    Screen(ADMIN, "support", "partials/admin/support/departments.html",
           admin_support.departments, "Support desk", "support"),
    Screen(ADMIN, "support/canned", "partials/admin/support/canned.html",
           admin_support.canned, "Canned replies", "support"),
    Screen(ADMIN, "support/sla", "partials/admin/support/sla.html",
           admin_support.sla, "SLA", "support"),
    # the support desk: /support/<path>, /support/partials/<path> (support staff and admins)
    Screen(SUPPORT, "", "partials/desk/queue.html",
           desk.queue, "Support queue", "queue"),
    Screen(SUPPORT, "tickets/{ticket_id:uuid}", "partials/desk/ticket.html",
           desk.ticket, "Ticket", "queue"),
    Screen(SUPPORT, "chats", "partials/desk/chats.html",
           desk_chat.chats, "Chats", "chats"),
    Screen(SUPPORT, "chats/{conversation_id:uuid}", "partials/desk/chat.html",
           desk_chat.chat, "Chat", "chats"),
]
# fmt: on
