#!/bin/bash
# First PID 1 of the systemd passes (exec'd by the loader): prepares the guest as an
# administrator would before rebooting into it — the agent configuration and PKI, an NFS server
# exporting two file systems (xprtsec=tls and xprtsec=mtls), /etc/fstab mounting both at boot,
# and the agent: `dpkg -i` of the .deb `npm run package` built (pass systemd-handshaked) or
# Debian's tlshd.service enabled (pass systemd-tlshd) — then execs systemd as PID 1.
# hsvm-run.service runs the pass's scenarios once the boot is done (scripts/vm/guest/systemd-run.sh).
set -u
mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sysfs /sys
exec </dev/console >/dev/console 2>&1
source /opt/hsvm/guest/lib.sh
PASS=$(sed -n 's/.*hsvm\.pass=\([^ ]*\).*/\1/p' /proc/cmdline)
WATCHDOG=$(sed -n 's/.*hsvm\.watchdog=\([^ ]*\).*/\1/p' /proc/cmdline)
echo "HSVM-INIT pass=$PASS uptime=$(up)s kernel=$(uname -r) (pre-systemd set-up)"
mount -o remount,rw /
mkdir -p "$H/results/$PASS"
exec 3>"$H/results/$PASS/setup.log"
{
  set -x
  # Never let the VM hang: this process outlives the exec below as a child of systemd.
  (sleep "${WATCHDOG:-1000}"; echo "HSVM-WATCHDOG fired after ${WATCHDOG}s" > /dev/console
   sync; echo s > /proc/sysrq-trigger; sleep 2; echo o > /proc/sysrq-trigger) </dev/null >/dev/null 2>&1 &

  write_agent_config
  install_pki
  # The agent's log level under systemd is the packaged default (info): one line per handshake.
  sed -i 's/^loglevel=.*/loglevel=0/' /etc/tlshd/config /etc/tlshd.conf

  # NFS server: two exports, no grace period worth waiting for, started by nfs-server.service.
  mkdir -p /srv/tls /srv/mtls /mnt/tls /mnt/mtls /mnt/late
  cat > /etc/exports <<'EOF'
/srv/tls 127.0.0.0/8(rw,no_root_squash,insecure,sync,fsid=11,xprtsec=tls) ::1(rw,no_root_squash,insecure,sync,fsid=11,xprtsec=tls)
/srv/mtls 127.0.0.1(rw,no_root_squash,insecure,sync,fsid=12,xprtsec=mtls)
EOF
  printf '[nfsd]\ngrace-time=10\nlease-time=10\nvers3=n\n' >> /etc/nfs.conf
  # Both mounts at boot, by address (the server certificate names 127.0.0.1 and ::1). The NFS
  # client keeps one connection per server address and xprtsec, so the scenarios' own mounts use
  # [::1] to get handshakes of their own while these stay mounted. The two use different NFS
  # minor versions (4.1 and 4.2): with one version, whichever mount came second failed with EPERM
  # (tlshd and handshaked alike): the client treats the second as the same server and reuses the
  # first one's session, made under the other xprtsec policy. Different minor versions get
  # separate client state, so each mount keeps its own TLS session.
  cat > /etc/fstab <<'EOF'
tmpfs /srv/tls tmpfs size=96m 0 0
tmpfs /srv/mtls tmpfs size=96m 0 0
127.0.0.1:/srv/tls /mnt/tls nfs vers=4.1,xprtsec=tls,retry=0,_netdev,x-systemd.requires=nfs-server.service 0 0
127.0.0.1:/srv/mtls /mnt/mtls nfs vers=4.2,xprtsec=mtls,retry=0,_netdev,x-systemd.requires=nfs-server.service 0 0
EOF
  # /dev/nvme-fabrics and friends: modules the nvme scenario needs, loaded at boot like a host would
  printf '%s\n' tls nvmet nvmet-tcp nvme-tcp sch_netem > /etc/modules-load.d/hsvm.conf
  # nfsd now: on a loaded host, loading it inside proc-fs-nfsd.mount overran that unit's 90 s
  # timeout and took the NFS server (and both boot mounts) down with it
  modprobe nfsd

  echo "tlshd.service in the image: $(systemctl is-enabled tlshd.service 2>&1)"
  case $PASS in
    systemd-handshaked)
      systemctl disable tlshd.service
      deb=$(ls "$H"/deb/handshaked_*.deb 2>/dev/null | head -1)
      if [ -n "$deb" ]; then
        # as an administrator installs it (no systemd running yet: enabled now, started at boot)
        dpkg -i "$deb" > "$H/results/$PASS/dpkg-install.log" 2>&1
        echo "dpkg -i rc=$?" >> "$H/results/$PASS/dpkg-install.log"
      else
        echo "no .deb in the payload" > "$H/results/$PASS/dpkg-install.log"
      fi ;;
    systemd-tlshd)
      systemctl enable tlshd.service ;;
  esac

  # The runner, after everything the boot starts (remote-fs.target included).
  cat > /etc/systemd/system/hsvm-run.service <<EOF
[Unit]
Description=hsvm scenario runner
After=multi-user.target remote-fs.target
[Service]
Type=oneshot
ExecStart=/bin/bash $H/guest/systemd-run.sh
StandardOutput=tty
StandardError=tty
TTYPath=/dev/console
EOF
  ln -sf /etc/systemd/system/hsvm-run.service /etc/systemd/system/multi-user.target.wants/hsvm-run.service
  systemctl set-default multi-user.target
  # No login prompts on the console the host parses; nothing else that waits for a network.
  systemctl mask serial-getty@ttyS0.service getty@tty1.service console-getty.service systemd-networkd-wait-online.service 2>/dev/null
  set +x
} >&3 2>&3
echo "HSVM-SETUP pass=$PASS done at uptime=$(up)s; exec systemd"
umount /sys /proc 2>/dev/null
exec /lib/systemd/systemd --log-target=kmsg --show-status=false
