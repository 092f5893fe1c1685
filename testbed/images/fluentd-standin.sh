#!/bin/sh
# STAND-IN for fluentd (kolla-pulumi test bed). Debian trixie ships no fluentd package (nor bookworm
# or forky), and the test bed has no network for rubygems. This keeps Kolla's fluentd container
# contract (`fluentd -c CONF -o LOG`, runs until stopped) without shipping any logs anywhere.
conf="" log=""
while [ $# -gt 0 ]; do
    case "$1" in
        -c) conf=$2; shift ;;
        -o) log=$2; shift ;;
    esac
    shift
done
[ -z "$conf" ] || [ -r "$conf" ] || { echo "fluentd stand-in: cannot read $conf" >&2; exit 1; }
msg="fluentd stand-in: config ${conf:-none} accepted, no logs are forwarded"
if [ -n "$log" ]; then mkdir -p "$(dirname "$log")" && echo "$msg" >> "$log"; fi
echo "$msg"
trap 'exit 0' TERM INT
while :; do sleep 3600 & wait $!; done
