if command -v systemd-sysusers >/dev/null 2>&1; then
    systemd-sysusers /usr/lib/sysusers.d/roster.conf
elif ! getent passwd roster >/dev/null; then
    useradd --system --home-dir /var/lib/roster --no-create-home --shell /sbin/nologin roster
fi
install -d -m 0750 -o root -g roster /etc/roster
chown root:roster /etc/roster/roster.toml
chmod 0640 /etc/roster/roster.toml
if [ ! -e /etc/roster/master.key ]; then
    umask 077
    head -c 32 /dev/urandom | base64 > /etc/roster/master.key
    chmod 0600 /etc/roster/master.key
    echo "roster: generated the master key /etc/roster/master.key; back it up apart from your data backups."
fi
install -d -m 0700 -o roster -g roster /var/lib/roster
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -eq 1 ]; then
        systemctl enable --now roster.service >/dev/null 2>&1 || :
    else
        systemctl try-restart roster.service >/dev/null 2>&1 || :
    fi
fi
echo "roster: console on http://127.0.0.1:8080/admin/; first-run setup link: journalctl -u roster | grep 'first-run setup'"
