"""The deploy node supervisor: `python -m berth_deploy.supervisor` (one per node).

`agent.py` is its tick (what it does to this node's processes and routes), `service.py` the
rules it applies to instance rows, `dao.py` its queries, `__main__.py` the process.

Every second or so it
- watches this node's instances: adopts live processes (after a worker or supervisor
  restart nothing is restarted that still runs), restarts crashed ones with backoff, fails
  crash loops, cleans up instances a lost worker was starting;
- reaps expired operation leases (a worker died mid-step): retry or fail with a reason, and
  kill the process group the dead worker left;
- reconciles Traefik route files with the instances that should be routed.

Why a process of its own and not a beat task: it must keep ticking while builds fill every
worker slot (a crash loop or a dead worker is noticed in seconds, not after the next build),
and it is the node's agent (like a kubelet): it acts on this node's processes and files.
Exactly one is active per node: it holds a PostgreSQL advisory lock; a second one waits as a
hot standby.
"""
