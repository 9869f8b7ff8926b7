"""App nodes: the machines whose agents (a deploy worker on `deploy.node.<name>` and the node
supervisor) run apps. `service.py` places apps on nodes, marks silent nodes down and moves
their apps, drains nodes for admins; `routes.py` is what Traefik's HTTP provider reads.
"""
