"""What the base image carries beyond debootstrap: the files that make a Debian rootfs a VPS.

- root autologin on the serial console (ttyS0), the browser console's terminal;
- sshd: root by key only, no passwords; host keys are removed from the image and made on
  each machine's first boot (two VPSes never share a host key);
- the network of QEMU's user-mode stack, static (no DHCP wait): 10.0.2.15/24 via 10.0.2.2,
  DNS 10.0.2.3; the system-container fallback gets its address from the sandbox instead;
- `berth-guest.service`, before sshd on every boot: grows the root filesystem to the disk,
  and on a disk's first boot with a given configuration applies it (hostname, root's
  authorized_keys). The configuration comes from QEMU's fw_cfg (opt/berth/*) or, in the
  container fallback, from /run/berth (a read-only bind of the machine's config directory).
"""

GUEST_INIT = r"""#!/bin/sh
# Berth: apply this machine's configuration and grow the root filesystem (every boot).
set -u
src=""
modprobe qemu_fw_cfg 2>/dev/null || true
if [ -d /sys/firmware/qemu_fw_cfg/by_name/opt/berth ]; then
  src=fw_cfg
elif [ -d /run/berth ]; then
  src=dir
fi
get() {
  case "$src" in
    fw_cfg) cat "/sys/firmware/qemu_fw_cfg/by_name/opt/berth/$1/raw" 2>/dev/null ;;
    dir) cat "/run/berth/$1" 2>/dev/null ;;
  esac
}
root=$(findmnt -n -o SOURCE / || true)
case "$root" in
  /dev/vd*|/dev/sd*) resize2fs "$root" >/dev/null 2>&1 || echo "berth: resize2fs $root failed" ;;
esac
[ -e /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -A
id=$(get config_id)
if [ -n "$id" ] && [ "$id" != "$(cat /var/lib/berth/config_id 2>/dev/null)" ]; then
  name=$(get hostname | tr -cd 'a-z0-9-' | cut -c1-63)
  if [ -n "$name" ]; then
    echo "$name" > /etc/hostname
    hostname "$name"
    printf '127.0.0.1 localhost\n127.0.1.1 %s\n' "$name" > /etc/hosts
  fi
  install -d -m 700 /root/.ssh
  get authorized_keys > /root/.ssh/authorized_keys
  chmod 600 /root/.ssh/authorized_keys
  mkdir -p /var/lib/berth
  echo "$id" > /var/lib/berth/config_id
fi
exit 0
"""

GUEST_UNIT = """[Unit]
Description=Berth machine configuration (hostname, SSH keys, root filesystem size)
DefaultDependencies=no
After=local-fs.target
Before=ssh.service network-pre.target sysinit.target
Wants=network-pre.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/berth-guest-init
RemainAfterExit=yes

[Install]
WantedBy=sysinit.target
"""

SERIAL_AUTOLOGIN = """[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --noclear --keep-baud 115200,57600,38400,9600 %I $TERM
"""

SSHD_CONFIG = """# Berth: root logs in with the keys given at order time, never with a password
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
"""

NETWORK = """[Match]
Name=en* eth*

[Network]
Address=10.0.2.15/24
Gateway=10.0.2.2
DNS=10.0.2.3
LinkLocalAddressing=no
IPv6AcceptRA=no
"""

RESOLV_CONF = "nameserver 10.0.2.3\noptions edns0\n"

#: rootfs-relative path -> (content, mode)
FILES: dict[str, tuple[str, int]] = {
    "usr/local/sbin/berth-guest-init": (GUEST_INIT, 0o755),
    "etc/systemd/system/berth-guest.service": (GUEST_UNIT, 0o644),
    "etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf": (SERIAL_AUTOLOGIN, 0o644),
    "etc/systemd/system/console-getty.service.d/autologin.conf": (
        SERIAL_AUTOLOGIN.replace("%I", "console"),
        0o644,
    ),
    "etc/ssh/sshd_config.d/berth.conf": (SSHD_CONFIG, 0o644),
    "etc/systemd/network/10-berth.network": (NETWORK, 0o644),
    "etc/resolv.conf": (RESOLV_CONF, 0o644),
    "etc/hostname": ("debian\n", 0o644),
    "etc/hosts": ("127.0.0.1 localhost\n127.0.1.1 debian\n", 0o644),
    "etc/fstab": ("# the root filesystem is the whole disk, mounted by the kernel\n", 0o644),
    # systemd makes a machine id on first boot (each VPS its own)
    "etc/machine-id": ("", 0o444),
}

#: unit -> target whose .wants/ gets it (systemctl enable, done by hand: no systemd needed)
ENABLE = {
    "berth-guest.service": "sysinit.target",
    "systemd-networkd.service": "multi-user.target",
    "serial-getty@ttyS0.service": "getty.target",
}
#: units masked: periodic apt work and other noise an idle VPS should not spend CPU on
MASK = ("apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer", "fstrim.timer")

#: packages beyond debootstrap's minbase
PACKAGES = (
    "systemd-sysv",
    "udev",
    "dbus",
    "kmod",
    "linux-image-amd64",
    "initramfs-tools",
    "openssh-server",
    "openssh-client",
    "ca-certificates",
    "iproute2",
    "iputils-ping",
    "netbase",
    "sudo",
    "less",
    "nano",
    "curl",
    "procps",
    "e2fsprogs",
)
