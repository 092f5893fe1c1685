#!/bin/sh
# Runs one image layer's build script in a chroot, as PID 1 of
#   unshare --mount --pid --fork --kill-child sh chroot-build.sh ...
# so every mount made here (overlay, /proc, /dev, apt caches) and every process a package's
# maintainer script leaves behind vanish when it exits, even on failure.
#   ROOT    the directory to chroot into (the overlay is mounted on it when LOWERS is set)
#   LOWERS  overlay lowerdir list (parents, top first) or "" to build ROOT in place (the base)
#   UPPER WORK  overlay upper (becomes the layer) and work dirs
#   LISTS CACHE  shared apt lists and /var/cache/apt (debs, pkgcache), kept out of the layer
#   FILES   a directory copied to /tmp/files in the chroot (build inputs)
#   SCRIPT  the shell script run with /bin/sh -eux inside the chroot
set -eu
root=$1 lowers=$2 upper=$3 work=$4 lists=$5 cache=$6 files=$7 script=$8

mount --make-rprivate /
if [ -n "$lowers" ]; then
    # No redirect_dir/metacopy/index: the upper dir must be a plain diff we can turn into a tar layer.
    mount -t overlay overlay \
        -o "lowerdir=$lowers,upperdir=$upper,workdir=$work,redirect_dir=off,metacopy=off,index=off" "$root"
fi
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
mkdir -p "$root/var/lib/apt/lists" "$root/var/cache/apt"
mount --bind "$lists" "$root/var/lib/apt/lists"
mount --bind "$cache" "$root/var/cache/apt"
[ -e "$root/etc/resolv.conf" ] || : > "$root/etc/resolv.conf"
mount --bind /etc/resolv.conf "$root/etc/resolv.conf"
cp -a "$files" "$root/tmp/files"
cp "$script" "$root/tmp/build.sh"
chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive /bin/sh -eux /tmp/build.sh </dev/null
