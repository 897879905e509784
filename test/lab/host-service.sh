#!/bin/sh
# hl-service start|stop|restart|reload SERVICE - the lab's stand-in for an init system inside a host
# (there is no systemd). SERVICE: rsyslog | sshd | cron | fail2ban. Installed as /usr/local/sbin/hl-service.
set -u
[ $# -eq 2 ] || { echo "usage: hl-service start|stop|restart|reload rsyslog|sshd|cron|fail2ban" >&2; exit 2; }
ACT=$1 SVC=$2

# Polls a condition for up to 5 s (a daemon's fork returns before it is ready).
until_ok() { i=0; while ! eval "$1"; do i=$((i + 1)); [ $i -ge 250 ] && return 1; sleep 0.02; done; }
running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
pidfile() {
  case $SVC in
    rsyslog) echo /run/rsyslogd.pid ;; sshd) echo /run/sshd.pid ;; cron) echo /run/crond.pid ;;
    fail2ban) echo /run/fail2ban/fail2ban.pid ;;
    *) echo "hl-service: unknown service $SVC" >&2; exit 2 ;;
  esac
}
PIDFILE=$(pidfile)

start() {
  running "$PIDFILE" && return 0
  case $SVC in
    rsyslog)
      # imklog would read this MACHINE's kernel ring buffer: /proc/kmsg is not namespaced.
      sed -i 's/^[[:space:]]*module(load="imklog"/#&/' /etc/rsyslog.conf
      rsyslogd -i "$PIDFILE" && until_ok '[ -S /dev/log ]' ;;
    sshd)
      mkdir -p -m 0755 /run/sshd
      /usr/sbin/sshd -t && /usr/sbin/sshd && until_ok "[ -s $PIDFILE ]" ;;   # pid file follows listen()
    cron)
      cron && until_ok "[ -s $PIDFILE ]" ;;
    fail2ban)
      # The sshd jail reads auth.log (written by rsyslog); fail2ban refuses to start if it is missing.
      touch /var/log/auth.log
      fail2ban-client -x start >/dev/null ;;
  esac
}

stop() {
  case $SVC in
    fail2ban) fail2ban-client stop >/dev/null 2>&1 || true ;;
    *)
      running "$PIDFILE" || { rm -f "$PIDFILE"; return 0; }
      pid=$(cat "$PIDFILE")
      kill "$pid"
      until_ok "! kill -0 $pid 2>/dev/null || grep -q '^State:.Z' /proc/$pid/status 2>/dev/null" || return 1
      rm -f "$PIDFILE" ;;
  esac
}

reload() {
  case $SVC in
    sshd) /usr/sbin/sshd -t && kill -HUP "$(cat "$PIDFILE")" ;;
    rsyslog) kill -HUP "$(cat "$PIDFILE")" ;;
    fail2ban) fail2ban-client reload >/dev/null ;;
    cron) : ;;                                          # cron rereads its tables by itself
  esac
}

case $ACT in
  start) start ;;
  stop) stop ;;
  restart) stop && start ;;
  reload) reload ;;
  *) echo "hl-service: unknown action $ACT" >&2; exit 2 ;;
esac
