#!/bin/sh
# Makes a sample liaison federation: a throw-away CA, the city's key and the federation directory
# (名录) it signs, in which every county in counties.toml (all 13 county-level divisions of Yan'an) is
# a peer of every other with an agreement (协议书) for every kind of notice, and for each county a
# signing key, a TLS certificate and a node.toml that names the signed directory.
#
# It is a trial and training federation: every node runs on one machine (HOST), and every private key
# is made here. For a real deployment each county makes its own signing key and certificate request on
# its own server (see docs/operations.md).
#
# Usage: deploy/federation/make-federation.sh [options] OUT_DIR
#   -c FILE   counties file ([[county]] code = "…" name = "…"); default: counties.toml beside this script
#   -H HOST   the address every node listens on and peers dial; default 127.0.0.1
#   -p PORT   base port: county i (from 0) gets exchange port PORT+2i and admin port PORT+2i+1; default 7400
#   -e DATE   the day the agreements take effect (YYYY-MM-DD); default 2026-01-01
#
# The liaison binary is $LIAISON if set, else `liaison` on PATH, else built from this checkout with
# `cargo build --release -p liaison-cli`. OUT_DIR must not exist (or be an empty directory): nothing is
# ever overwritten.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

usage() {
    sed -n '/^# Usage:/,/^# *$/p' "$0" | sed -e 's/^# \{0,1\}//' -e '$d' >&2
    exit "${1:-2}"
}

counties="$here/counties.toml"
host=127.0.0.1
base_port=7400
effective=2026-01-01
while getopts c:H:p:e:h opt; do
    case $opt in
        c) counties=$OPTARG ;;
        H) host=$OPTARG ;;
        p) base_port=$OPTARG ;;
        e) effective=$OPTARG ;;
        h) usage 0 ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || usage
out=$1

die() {
    echo "make-federation: $*" >&2
    exit 2
}

# Refuse to overwrite anything: OUT_DIR must be new or an empty directory.
if [ -e "$out" ] || [ -L "$out" ]; then
    [ -d "$out" ] || die "$out exists and is not a directory; refusing to overwrite it"
    [ -z "$(ls -A "$out")" ] || die "$out exists and is not empty; refusing to overwrite it (choose a new directory)"
fi
[ -f "$counties" ] || die "no counties file $counties"
case $host in
    0.0.0.0 | :: | "[::]") die "-H $host is not an address peers can dial; give the machine's address (or 127.0.0.1)" ;;
esac
case $effective in
    [0-9][0-9][0-9][0-9]-0[1-9]-[0-3][0-9] | [0-9][0-9][0-9][0-9]-1[0-2]-[0-3][0-9]) ;;
    *) die "-e $effective is not a date such as 2026-01-01" ;;
esac
# With GNU date, also refuse days that do not exist (2026-02-30).
if date --version >/dev/null 2>&1; then
    [ "$(date -d "$effective" +%Y-%m-%d 2>/dev/null || true)" = "$effective" ] ||
        die "-e $effective is not a real day"
fi

# Find the liaison binary.
if [ -n "${LIAISON:-}" ]; then
    bin=$LIAISON
elif command -v liaison >/dev/null 2>&1; then
    bin=$(command -v liaison)
elif [ -f "$repo/Cargo.toml" ] && command -v cargo >/dev/null 2>&1; then
    echo "make-federation: no liaison on PATH; building it: cargo build --release -p liaison-cli" >&2
    (cd "$repo" && cargo build -q --release -p liaison-cli)
    bin="${CARGO_TARGET_DIR:-$repo/target}/release/liaison"
    case $bin in /*) ;; *) bin="$repo/$bin" ;; esac
else
    die "cannot find liaison: set LIAISON=/path/to/liaison or put it on PATH"
fi
# An absolute path, since start-all.sh is run from anywhere.
case $bin in
    /*) ;;
    */*) bin="$(pwd)/$bin" ;;
    *) bin=$(command -v "$bin") || die "cannot find $LIAISON" ;;
esac
[ -x "$bin" ] || die "$bin is not an executable"
"$bin" federation init --help >/dev/null 2>&1 ||
    die "$bin has no 'federation init' command; use a newer build"

# Make the CA, keys, certificates and configs.
"$bin" federation init --dir "$out" --counties "$counties" --host "$host" \
    --base-port "$base_port" --agreement-effective "$effective"

out=$(cd "$out" && pwd)
[ -f "$out/ca.crt" ] && [ -f "$out/ca.key" ] || die "federation init wrote no CA in $out"

# Every county directory holds a node.toml; list them in the order of the counties file.
codes=$(sed -n 's/^[[:space:]]*code[[:space:]]*=[[:space:]]*"\([0-9]\{6\}\)".*/\1/p' "$counties")
for code in $codes; do
    [ -f "$out/$code/node.toml" ] || die "federation init wrote no $out/$code/node.toml"
done
first=$(echo "$codes" | head -n 1)

# Helper scripts for running the whole sample federation on this machine.
quoted_bin=$(printf '%s' "$bin" | sed "s/'/'\\\\''/g")
cat >"$out/start-all.sh" <<EOF
#!/bin/sh
# Starts every node of this sample federation in the background.
# Logs: <code>/serve.log; process ids: <code>/serve.pid. Stop them with stop-all.sh.
set -eu
here=\$(cd "\$(dirname "\$0")" && pwd)
bin=\${LIAISON:-'$quoted_bin'}
for code in $(echo $codes); do
    dir="\$here/\$code"
    if [ -f "\$dir/serve.pid" ] && kill -0 "\$(cat "\$dir/serve.pid")" 2>/dev/null; then
        echo "\$code is running already (pid \$(cat "\$dir/serve.pid"))"
        continue
    fi
    "\$bin" serve --config "\$dir/node.toml" >>"\$dir/serve.log" 2>&1 &
    echo \$! >"\$dir/serve.pid"
    echo "started \$code (pid \$!), log \$dir/serve.log"
done
sleep 2
failed=0
for code in $(echo $codes); do
    if ! kill -0 "\$(cat "\$here/\$code/serve.pid")" 2>/dev/null; then
        echo "\$code stopped at once; see \$here/\$code/serve.log:" >&2
        tail -n 5 "\$here/\$code/serve.log" >&2
        rm -f "\$here/\$code/serve.pid"
        failed=1
    fi
done
exit \$failed
EOF
cat >"$out/stop-all.sh" <<EOF
#!/bin/sh
# Stops every node started by start-all.sh (SIGTERM: each drains and flushes its store) and waits.
set -eu
here=\$(cd "\$(dirname "\$0")" && pwd)
for code in $(echo $codes); do
    pidfile="\$here/\$code/serve.pid"
    [ -f "\$pidfile" ] || continue
    pid=\$(cat "\$pidfile")
    if kill -TERM "\$pid" 2>/dev/null; then
        i=0
        while kill -0 "\$pid" 2>/dev/null && [ \$i -lt 300 ]; do sleep 0.1; i=\$((i + 1)); done
        if kill -0 "\$pid" 2>/dev/null; then
            echo "\$code (pid \$pid) is still stopping after 30 s" >&2
            continue
        fi
        echo "stopped \$code"
    fi
    rm -f "\$pidfile"
done
EOF
cat >"$out/city-report.sh" <<EOF
#!/bin/sh
# The city's quarterly bulletin (市局季度通报) over the whole sample federation: every running node
# exports its redacted audit bundle for QUARTER into bundles/QUARTER/<code>.json (empty, and proven
# so, for a county with no notice in it), then liaison city report checks every bundle
# against the city's signed directory, matches them and prints the bulletin; its other options
# (--csv, --json, --html FILE) are passed on. Exits as liaison city report does (5: a discrepancy).
# Usage: city-report.sh QUARTER [city report options], e.g. city-report.sh 2026Q4 --html bulletin.html
set -eu
here=\$(cd "\$(dirname "\$0")" && pwd)
bin=\${LIAISON:-'$quoted_bin'}
[ \$# -ge 1 ] || { echo "usage: city-report.sh QUARTER [--csv | --json | --html FILE]" >&2; exit 2; }
quarter=\$1
shift
bundles="\$here/bundles/\$quarter"
mkdir -p "\$bundles"
city_key=\$(sed -n 's/^city_key[[:space:]]*=[[:space:]]*"\(.*\)"/\1/p' "\$here/$first/node.toml")
for code in $(echo $codes); do
    rm -f "\$bundles/\$code.json"
    if ! "\$bin" audit export --config "\$here/\$code/node.toml" --quarter "\$quarter" \\
        --redact-payloads --out "\$bundles/\$code.json" >/dev/null; then
        echo "\$code: no bundle for \$quarter (see the message above)" >&2
    fi
done
exec "\$bin" city report --quarter "\$quarter" --directory "\$here/directory.note" \\
    --city-key "\$city_key" "\$@" "\$bundles"/*.json
EOF
chmod 0755 "$out/start-all.sh" "$out/stop-all.sh" "$out/city-report.sh"

cat <<EOF

Done. $out holds:
  ca.crt, ca.key       the federation's CA (ca.key issues certificates: keep it offline)
  city.pem             the city's key, which signs the directory (keep it offline)
  directory.toml       the directory's draft; directory.note, the signed version the nodes read
  <code>/node.toml     one node per county; data goes to <code>/data
  <code>/signing.pem   its Ed25519 signing key;  <code>/tls.crt, tls.key  its TLS identity
  start-all.sh, stop-all.sh, city-report.sh

What to do next:
  1. Start every node on this machine (each needs its two ports free):
       $out/start-all.sh
     or one node:  $bin serve --config $out/$first/node.toml
  2. See that a node knows its peers (the admin token is made at first start):
       $bin peers --config $out/$first/node.toml
  3. Send a notice from $first (see docs/notices.md; this example goes to 610627 甘泉县, so change its
     "recipient" if your counties file leaves 610627 out):
       $bin send --config $out/$first/node.toml $repo/deploy/examples/notices/contact_letter.json
       $bin outbox --config $out/$first/node.toml
  4. The city's quarterly bulletin over every county (each node exports its redacted bundle):
       $out/city-report.sh $(date +%Y)Q$(( ($(date +%m | sed 's/^0//') + 2) / 3 ))
  5. Stop them all:  $out/stop-all.sh

To run one county on its own server instead, copy its directory and directory.note there, change
listen.exchange in its node.toml and, in directory.toml, every county's endpoint to the real
addresses, sign and publish a new version (liaison directory sign, publish), set node.data_dir to
an absolute path, and follow docs/operations.md.
EOF
