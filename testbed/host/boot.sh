#!/bin/sh
# First process of a test-bed host, started as
#   nsenter --net=/run/netns/NS unshare --mount --uts -- sh boot.sh
# (not `ip netns exec`, which remounts /sys and hides the cgroup mounts dockerd needs).
# Gives the host its own /run, /tmp, /etc, /root and /var/lib/docker, then runs sshd and dockerd
# and waits; killing this process's children and then it ends the host.
# Environment: TB_NAME, TB_DATA (per-host data dir), TB_BIN (holds the runc wrapper named runc),
# TB_MODULES (the /lib/modules the host sees: testbed/host_modules.py).
set -eu

hostname "$TB_NAME"
# unshare made every mount private already; say so anyway, before mounting anything.
mount --make-rprivate /
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/sshd /run/lock
mount -t tmpfs -o mode=1777 tmpfs /tmp
# Per-host /etc: an overlay on the machine's own, writes go to the host's upper dir.
mount -t overlay overlay \
    -o "lowerdir=/etc,upperdir=$TB_DATA/etc/upper,workdir=$TB_DATA/etc/work" /etc
# What a real machine's boot applies from /etc/sysctl.d (systemd-sysctl), for the settings this host's
# network namespace owns (net.*): Kolla's ip_nonlocal_bind, without which haproxy cannot bind the VIP
# after a reboot. Others would change the whole machine, so they are left alone.
cat /etc/sysctl.d/*.conf 2>/dev/null | grep -E '^[[:space:]]*net\.' | sysctl -q -p /dev/stdin >/dev/null 2>&1 || true
# What a real machine's boot makes from /etc/tmpfiles.d (systemd-tmpfiles-setup, before docker.service)
# in this host's own /run: the directories its containers bind-mount from there.
cat /etc/tmpfiles.d/*.conf 2>/dev/null | awk '$1 == "d" && $2 ~ "^/run/" {print $3, $2}' |
    while read -r mode path; do mkdir -p "$path" && chmod "$mode" "$path"; done || true
# A /root of its own, like a fresh install: the machine's dotfiles (and its caches, which hold the
# test bed's client key) stay out of the hosts.
mount --bind "$TB_DATA/root" /root
mount --bind "$TB_DATA/docker" /var/lib/docker
mkdir -p /lib/modules
mount --bind "$TB_MODULES" /lib/modules
# A /dev without kvm: test-bed hosts stand for machines without hardware virtualisation, where
# nova_compute_virt_type must be qemu and kvm fails as it would there. dockerd lists this /dev for
# privileged containers (nova_libvirt), so the machine's /dev/kvm stays out of them too.
if [ -e /dev/kvm ]; then
    mkdir -p /run/testbed-dev
    mount -t tmpfs -o mode=755,nosuid tmpfs /run/testbed-dev
    cp -a -x /dev/. /run/testbed-dev/
    rm -f /run/testbed-dev/kvm
    for sub in pts shm mqueue hugepages; do
        if mountpoint -q "/dev/$sub"; then
            mkdir -p "/run/testbed-dev/$sub" && mount --rbind "/dev/$sub" "/run/testbed-dev/$sub"
        fi
    done
    mount --move /run/testbed-dev /dev
fi
# Kolla mounts /run:/run:shared; propagation stays inside this host's mount namespace.
mount --make-rshared /

if [ ! -e "$TB_DATA/booted" ]; then
    # Every engine would otherwise share the machine's engine ID.
    rm -f /etc/docker/key.json
    : > "$TB_DATA/booted"
fi

/usr/sbin/sshd -D -e -f /etc/ssh/sshd_config >>"$TB_DATA/log/sshd.log" 2>&1 &
echo $! > "$TB_DATA/sshd.pid"
# The runc wrapper comes first on PATH: it is what dockerd's default runtime "runc" resolves to.
PATH="$TB_BIN:$PATH" dockerd >>"$TB_DATA/log/dockerd.log" 2>&1 &
echo $! > "$TB_DATA/dockerd.pid"
wait
