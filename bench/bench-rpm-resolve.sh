#!/usr/bin/env bash
# Resolving an rpm-md repository of N synthetic packages (default 2,000) with deep dependencies:
# vmcompose (`vmcompose lock` on a fedora profile: repomd.xml, primary and filelists into an
# empty cache, libsolv) against `dnf --installroot` (dnf 4: the same repository, an empty install
# root, weak dependencies off, answering no at the transaction) and libsolv's own testsolv on the
# same package data as a testcase. Each tool starts cold (an empty cache or root), RUNS runs
# each (default 3); prints the median wall time and peak memory and the ratios.
# The metadata is written directly (createrepo_c needs real RPMs): primary.xml.gz with requires,
# provides, rich and file dependencies, filelists.xml.gz, repomd.xml with their SHA-256.
# Needs python3; dnf and testsolv are optional (Debian: dnf, libsolv-tools).
# Run from the source tree's top directory:  bench/bench-rpm-resolve.sh [BUILD_DIR]
set -euo pipefail
VMC=$(realpath "${1:-build}/vmcompose")
N=${N:-2000}
RUNS=${RUNS:-3}
W=$(mktemp -d /var/tmp/vmcompose-rpmbench-XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$W"' EXIT

mkdir -p "$W/repo/repodata"
python3 - "$W" "$N" <<'PY'
import gzip, hashlib, os, random, sys
w, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(13)
SHA = lambda s: hashlib.sha256(s.encode()).hexdigest()
name = lambda i: "pkg%04d" % i
pkgs = []
for i in range(n):
    req, prv, files = [], ["cap%d" % (i % 97)], ["/usr/bin/%s" % name(i), "/usr/share/%s/data" % name(i)]
    # Deep chains: each package needs the next one in its block of 200, and a few others.
    if (i + 1) % 200:
        req.append(name(i + 1))
    for _ in range(3):
        j = rng.randrange(i + 1, n) if i + 1 < n else None
        if j is not None:
            req.append(name(j))
    if i % 10 == 0 and i + 2 < n:
        req.append("(%s or %s)" % (name(i + 2), "cap%d" % ((i + 5) % 97)))
    if i % 50 == 0 and i + 1 < n:
        req.append("/usr/share/%s/data" % name(min(n - 1, i + 7)))  # only in filelists
    if i % 7 == 0:
        req.append("cap%d" % rng.randrange(97))
    pkgs.append((name(i), req, prv, files))

def entries(deps):
    return "".join('<rpm:entry name="%s"/>' % d for d in deps)

prim = ['<?xml version="1.0" encoding="UTF-8"?>\n<metadata xmlns="http://linux.duke.edu/metadata/common" '
        'xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="%d">' % n]
fl = ['<?xml version="1.0" encoding="UTF-8"?>\n<filelists xmlns="http://linux.duke.edu/metadata/filelists" '
      'packages="%d">' % n]
tt = []
for nm, req, prv, files in pkgs:
    sha = SHA(nm)
    prim.append('<package type="rpm"><name>%s</name><arch>x86_64</arch><version epoch="0" ver="1.0" rel="1"/>'
                '<checksum type="sha256" pkgid="YES">%s</checksum><summary>%s</summary>'
                '<size package="1000" installed="2000" archive="2100"/><location href="Packages/%s-1.0-1.x86_64.rpm"/>'
                '<format><rpm:license>MIT</rpm:license><rpm:provides><rpm:entry name="%s" flags="EQ" epoch="0" ver="1.0" rel="1"/>%s</rpm:provides>'
                '<rpm:requires>%s</rpm:requires><file>%s</file></format></package>'
                % (nm, sha, nm, nm, nm, entries(prv), entries(req), files[0]))
    fl.append('<package pkgid="%s" name="%s" arch="x86_64"><version epoch="0" ver="1.0" rel="1"/>%s</package>'
              % (sha, nm, "".join("<file>%s</file>" % f for f in files)))
    tt.append("#>=Pkg: %s 1.0 1 x86_64\n#>=Prv: %s = 1.0-1\n%s%s" % (
        nm, nm, "".join("#>=Prv: %s\n" % p for p in prv + files),
        "".join("#>=Req: %s\n" % r for r in req)))
prim.append("</metadata>\n")
fl.append("</filelists>\n")
md = ['<?xml version="1.0" encoding="UTF-8"?>\n<repomd xmlns="http://linux.duke.edu/metadata/repo" '
      'xmlns:rpm="http://linux.duke.edu/metadata/rpm"><revision>1</revision>']
for kind, text in (("primary", "\n".join(prim)), ("filelists", "\n".join(fl))):
    raw = text.encode()
    z = gzip.compress(raw, mtime=0)
    s = hashlib.sha256(z).hexdigest()
    loc = "repodata/%s-%s.xml.gz" % (s, kind)
    open(os.path.join(w, "repo", loc), "wb").write(z)
    md.append('<data type="%s"><checksum type="sha256">%s</checksum><open-checksum type="sha256">%s</open-checksum>'
              '<location href="%s"/><timestamp>1</timestamp><size>%d</size><open-size>%d</open-size></data>'
              % (kind, s, hashlib.sha256(raw).hexdigest(), loc, len(z), len(raw)))
md.append("</repomd>\n")
open(os.path.join(w, "repo/repodata/repomd.xml"), "w").write("".join(md))
open(os.path.join(w, "bench.t"), "w").write(
    "repo system 0 testtags <inline>\nrepo bench 99 testtags <inline>\n" + "".join(tt) +
    "system x86_64 rpm system\njob install name pkg0000\njob install name pkg0200\n"
    "job install name pkg0400\nresult transaction,problems <inline>\n")
PY
echo "repository: $N packages, primary $(stat -c %s "$W"/repo/repodata/*-primary.xml.gz) bytes gz"

cat >"$W/bench.yaml" <<EOF
name: rpm-bench
distro:
  family: fedora
  release: "43"
  architecture: amd64
  repositories:
    - uri: file://$W/repo
      suite: bench
      allow-unsigned: true
packages:
  base: none
  install: [pkg0000, pkg0200, pkg0400]
EOF

measure() { # LABEL CMD...: appends "seconds peak-KiB" to $W/LABEL.times
        local label=$1
        shift
        /usr/bin/time -f "%e %M" -o "$W/t" "$@" >"$W/$label.log" 2>&1 || true
        tail -1 "$W/t" >>"$W/$label.times" # (time adds a line for a non-zero exit: dnf --assumeno)
}
median() { sort -n -k1 "$W/$1.times" | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'; }

for ((i = 0; i < RUNS; i++)); do
        rm -rf "$W/cache" "$W/root" "$W/rpm-bench.lock"
        measure vmcompose "$VMC" -q lock "$W/bench.yaml" --cache-dir "$W/cache"
        if command -v dnf >/dev/null; then
                measure dnf dnf --installroot "$W/root" --setopt=reposdir=/dev/null \
                        --repofrompath "bench,file://$W/repo" --setopt=bench.gpgcheck=0 \
                        --setopt=install_weak_deps=False --releasever 43 --forcearch x86_64 \
                        --assumeno install pkg0000 pkg0200 pkg0400
        fi
        if command -v testsolv >/dev/null; then
                measure testsolv testsolv "$W/bench.t"
        fi
done

n_vmc=$(grep -c "^  - name:" "$W/rpm-bench.lock" 2>/dev/null || echo "?")
read -r t_vmc m_vmc < <(median vmcompose)
printf "%-10s %8s s %8s MiB  %s packages in the plan\n" vmcompose "$t_vmc" $((m_vmc / 1024)) "$n_vmc"
for tool in dnf testsolv; do
        [ -f "$W/$tool.times" ] || { echo "$tool: not installed, skipped"; continue; }
        read -r t m < <(median $tool)
        case $tool in
        dnf) n=$(grep -cE '^ pkg[0-9]+ ' "$W/dnf.log" || true) ;;
        testsolv) n=$(grep -c "^+install " "$W/testsolv.log" || true) ;;
        esac
        printf "%-10s %8s s %8s MiB  %s packages; vmcompose/%s: time %.2f, memory %.2f\n" "$tool" \
                "$t" $((m / 1024)) "$n" "$tool" "$(echo "$t_vmc / $t" | bc -l)" \
                "$(echo "$m_vmc / $m" | bc -l)"
done
