#!/usr/bin/env bash
# Debian packages that pip and npm cannot bring: bubblewrap, passt (pasta) and iproute2 (the
# deploy service's app sandbox and its network namespace), git, crun and skopeo (container
# apps), docker-registry and busybox-static (the container tests' registry and images); with --browser, chromium (the
# browser tests drive it through Playwright's driver; never `playwright install`); with
# --bench, wrk; with --firewall, iptables (ip6tables too): only for a node an operator runs
# with DEPLOY_INSECURE_SHARED_NETWORK=true, whose fallback policy is an iptables chain
# (berth_deploy/sandbox/firewall.py); the sandboxes' own network namespaces need none; with
# --vps, what VPSes need (berth_deploy/vps/machine): QEMU and qemu-img, debootstrap (the base
# image), the ssh client (the driver tests log in). Flags combine (e.g. --browser --vps). Installs only what is missing; needs root for apt. Also switches on RabbitMQ's
# Prometheus plugin when the machine's broker runs without it (below).
set -euo pipefail
# The queue pages read RabbitMQ's Prometheus endpoint (rabbitmq_prometheus, port 15692): on a
# machine whose own RabbitMQ runs, the plugin is switched on (online, no restart; needs root or
# the broker's user). A broker elsewhere or in compose enables it itself (deploy/compose).
if command -v rabbitmq-plugins >/dev/null 2>&1 && rabbitmq-diagnostics -q ping >/dev/null 2>&1 \
  && ! rabbitmq-plugins -q is_enabled rabbitmq_prometheus >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "enabling RabbitMQ's Prometheus endpoint (rabbitmq_prometheus, port 15692)"
    rabbitmq-plugins -q enable rabbitmq_prometheus
  else
    echo "RabbitMQ's rabbitmq_prometheus plugin is off: the queue pages need it" \
      "(sudo rabbitmq-plugins enable rabbitmq_prometheus)" >&2
  fi
fi
need=()
flags=" $* "
want() { case "$flags" in *" $1 "*) return 0 ;; esac; return 1; }
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
command -v pasta >/dev/null 2>&1 || need+=(passt)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# git: builds fetch inside the sandbox; the deploy web process serves `git push` (http-backend)
command -v git >/dev/null 2>&1 || need+=(git)
# container apps: crun runs them (rootless, in the app sandbox), skopeo pulls images by digest;
# the tests' own registry (docker-registry) and their images' static busybox
command -v crun >/dev/null 2>&1 || need+=(crun)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
# Dockerfile apps: buildah builds them (rootless, as the app's uid, in the app sandbox)
command -v buildah >/dev/null 2>&1 || need+=(buildah)
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
if want --browser && ! command -v chromium >/dev/null 2>&1; then
  need+=(chromium)
fi
# the fault suite (tests/faults) starts RabbitMQ nodes of its own that it may stop and start
# (berth_testing.faults), never the machine's shared broker
if [ "${1:-}" = "--browser" ] && [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
  need+=(rabbitmq-server)
fi
# the benchmarks' load generator (make bench)
if want --bench && ! command -v wrk >/dev/null 2>&1; then
  need+=(wrk)
fi
if want --firewall && ! command -v iptables >/dev/null 2>&1; then
  need+=(iptables)
fi
if want --vps; then
  command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
  command -v qemu-img >/dev/null 2>&1 || need+=(qemu-utils)
  command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
  command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${need[*]} (install them: sudo apt-get install -y ${need[*]})" >&2
  exit 1
fi
echo "installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}"
