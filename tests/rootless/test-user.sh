# Sourced by the tests that build as an ordinary user (the suite itself may run as root).
# test_user NAME [nosubids]: makes NAME (a home, a shell) if missing, with a subordinate range of
# 65536 user and group ids in /etc/subuid and /etc/subgid, or with none at all (nosubids).
# Idempotent. Needs root.
test_user() {
        local name=$1 mode=${2:-subids} f start
        if ! id "$name" >/dev/null 2>&1; then
                useradd -m -s /bin/bash -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 "$name" || return 1
        fi
        for f in /etc/subuid /etc/subgid; do
                [ -e $f ] || touch $f
                if [ "$mode" = nosubids ]; then
                        sed -i "/^$name:/d" $f
                        continue
                fi
                grep -q "^$name:[0-9]*:65536\$" $f && continue
                sed -i "/^$name:/d" $f
                # The first multiple of 65536 at or above 100000 past every range in the file.
                start=$(awk -F: 'BEGIN { s = 131072 } { e = $2 + $3; if (e > s) s = e }
                        END { print int((s + 65535) / 65536) * 65536 }' $f)
                echo "$name:$start:65536" >>$f
        done
}

# as_user NAME: sets AS_USER to the command prefix that runs a command as NAME, exec'd in place
# ("${AS_USER[@]}" CMD... &: $! is CMD's pid), with the user's HOME and without the caller's
# XDG directories.
as_user() {
        local home
        home=$(getent passwd "$1" | cut -d: -f6)
        AS_USER=(setpriv --reuid="$1" --regid="$1" --init-groups --reset-env
                env -u XDG_CACHE_HOME HOME="$home" USER="$1" LOGNAME="$1"
                PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin)
}
