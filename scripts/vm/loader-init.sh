#!/bin/sh
# /init of the loader initramfs: load virtio_blk, mount the ext4 root image (/dev/vda)
# and the payload disk (/dev/vdb) under it, then switch_root into the PID-1 script named by
# realinit= on the command line.
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
[ -f /lib/modules/virtio_blk.ko ] && { insmod /lib/modules/virtio_blk.ko || echo "LOADER: insmod virtio_blk failed"; }
i=0; while [ ! -b /dev/vda ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
mount -t ext4 -o rw /dev/vda /newroot || { echo "LOADER: cannot mount /dev/vda"; poweroff -f; }
# The second disk carries the per-run payload (harness, PKI, built project, results).
i=0; while [ ! -b /dev/vdb ] && [ $i -lt 40 ]; do sleep 0.05; i=$((i+1)); done
if [ -b /dev/vdb ]; then
  mkdir -p /newroot/opt/hsvm
  mount -t ext4 -o rw /dev/vdb /newroot/opt/hsvm || echo "LOADER: cannot mount /dev/vdb"
fi
REALINIT=/opt/hsvm/guest/init.sh
for a in $(cat /proc/cmdline); do case $a in realinit=*) REALINIT=${a#realinit=};; esac; done
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot "$REALINIT"
