"""Virtual private servers: a Debian machine per order (a KVM guest where the node has KVM,
a system container otherwise), its lifecycle as leased operations, billed and watched like
apps. The hypervisor driver is `vps.machine`; the browser console is `vps.console`."""
