#!/usr/bin/env bash
# The command line as a user sees it: exit codes, messages with file:line:col, JSON that parses
# and matches the goldens for the shipped profiles. Run from the source tree's top directory:
#   bash tests/cli/test-cli.sh PATH/TO/vmcompose        (UPDATE_GOLDEN=1 rewrites the goldens)
set -u
VMC=${1:?usage: test-cli.sh VMCOMPOSE}
command -v jq >/dev/null || { echo "SKIP: jq is not installed"; exit 77; }
T=$(mktemp -d /tmp/vmcompose-cli-XXXXXX)
trap 'rm -rf "$T"' EXIT
failures=0 checks=0

# run EXPECTED_STATUS CMD...: runs with a timeout, keeps stdout in $T/out and stderr in $T/err.
run() {
        local want=$1
        shift
        timeout 20 "$@" >"$T/out" 2>"$T/err"
        local rc=$?
        checks=$((checks + 1))
        if [ $rc -ge 124 ]; then
                echo "FAIL: $* crashed or hung (status $rc)"
                cat "$T/err"
                failures=$((failures + 1))
                return 1
        fi
        if [ $rc -ne "$want" ]; then
                echo "FAIL: $* exited $rc, expected $want"
                cat "$T/out" "$T/err"
                failures=$((failures + 1))
                return 1
        fi
        return 0
}
# expect FILE REGEX: the file ($T/out or $T/err) matches.
expect() {
        checks=$((checks + 1))
        if ! grep -qE -- "$2" "$1"; then
                echo "FAIL: expected /$2/ in $(basename "$1"):"
                cat "$1"
                failures=$((failures + 1))
        fi
}
# bad CONTENT REGEX: a profile with this content fails validation with exit 2 and the message.
bad() {
        printf '%s' "$1" >"$T/bad.yaml"
        run 2 "$VMC" profile validate "$T/bad.yaml" && expect "$T/err" "$2"
}

# --- help, version, usage errors ---
run 0 "$VMC" --help && expect "$T/out" "Usage: vmcompose"
run 0 "$VMC" --version && expect "$T/out" "^vmcompose [0-9]+\.[0-9]+\.[0-9]+$"
run 0 "$VMC" help build && expect "$T/out" "Usage: vmcompose build"
run 0 "$VMC" build --help && expect "$T/out" "--target NAME"
run 0 "$VMC" boot --help && expect "$T/out" "--firmware bios\|uefi\|secureboot"
run 0 "$VMC" profile --help && expect "$T/out" "packages.install +list, accumulates"
expect "$T/out" "disk.partitions\[\].size"
run 0 "$VMC" audit --help && expect "$T/out" "--policy NAME"
run 2 "$VMC" build --until nosuch profiles/minimal.yaml && expect "$T/err" "no such stage \\(the stages: profile, containers, resolve, .*lint, manifest, reports\\)"
run 2 "$VMC" audit && expect "$T/err" "expected one IMAGE"
run 2 "$VMC" audit "$T/no-such.raw" && expect "$T/err" "no-such.raw: No such file"
: >"$T/empty.raw"
run 2 "$VMC" audit --policy no-such-policy "$T/empty.raw" && expect "$T/err" "policy 'no-such-policy' not found.*available:.*headless"
run 2 "$VMC"
run 2 "$VMC" frobnicate && expect "$T/err" "unknown command 'frobnicate'"
run 2 "$VMC" --frobnicate
run 2 "$VMC" profile validate
run 2 "$VMC" profile show a.yaml b.yaml
run 2 "$VMC" profile show --target qemu profiles/minimal.yaml && expect "$T/err" "needs --resolved"
run 2 "$VMC" build
run 2 "$VMC" boot --firmware efi x.raw && expect "$T/err" "expected bios, uefi or secureboot"
run 2 "$VMC" boot --disk "$T/no-such.img" x.raw && expect "$T/err" "--disk .*no-such.img: No such file or directory"

# --- the shipped profiles ---
run 0 "$VMC" profile validate profiles/minimal.yaml profiles/base/debian-12.yaml
# The RPM families' bases (their repositories are not reachable here: validated, not built).
run 0 "$VMC" profile validate profiles/minimal-fedora.yaml profiles/base/fedora-43.yaml \
        profiles/base/azurelinux-3.0.yaml profiles/base/azurelinux-4.0.yaml
run 0 "$VMC" profile show --resolved --json profiles/minimal-fedora.yaml &&
        expect "$T/out" '"family": "fedora"' &&
        expect "$T/out" 'https://dl.fedoraproject.org/pub/fedora/linux/releases/43/Everything/x86_64/os'
for t in qemu azure-gen1 azure-gen2 hyperv-gen2; do
        run 0 "$VMC" profile validate --target $t profiles/minimal.yaml
done
run 2 "$VMC" profile validate --target nope profiles/minimal.yaml &&
        expect "$T/err" "unknown target 'nope'.*available: azure-gen1 azure-gen2 hyperv-gen2 qemu"

# The resolved JSON of each shipped profile and target: valid, and equal to its golden.
for t in "" qemu azure-gen1 azure-gen2 hyperv-gen2; do
        name=minimal${t:+-$t}
        args=(profile show --resolved --json)
        [ -n "$t" ] && args+=(--target "$t")
        run 0 "$VMC" "${args[@]}" profiles/minimal.yaml || continue
        checks=$((checks + 1))
        if ! jq -e . "$T/out" >/dev/null; then
                echo "FAIL: $name: not valid JSON"
                failures=$((failures + 1))
                continue
        fi
        [ -n "${UPDATE_GOLDEN:-}" ] && cp "$T/out" "tests/golden/$name.json"
        checks=$((checks + 1))
        if ! diff -u "tests/golden/$name.json" "$T/out"; then
                echo "FAIL: $name: differs from tests/golden/$name.json"
                failures=$((failures + 1))
        fi
        cp "$T/out" "$T/$name.json"
done

# jq-checked facts, independent of the goldens.
jqcheck() { # FILE FILTER: the filter is true
        checks=$((checks + 1))
        if ! jq -e "$2" "$T/$1.json" >/dev/null; then
                echo "FAIL: $1: jq '$2' is not true"
                failures=$((failures + 1))
        fi
}
jqcheck minimal '.layers == ["profiles/base/debian-12.yaml", "profiles/minimal.yaml"]'
jqcheck minimal '.provenance.name == "profiles/minimal.yaml:4:7"'
jqcheck minimal '.provenance["distro.release"] | startswith("profiles/base/debian-12.yaml:")'
jqcheck minimal '.profile.outputs == ["raw", "vhd", "qcow2"]'
jqcheck minimal '.profile.packages.recommends == false'
jqcheck minimal '.profile.reproducible["source-date-epoch"] == 1700000000'
jqcheck minimal '.profile.disk.partitions[0].size == 134217728'
jqcheck minimal '.profile.disk.partitions[1].size == "auto"'
jqcheck minimal '.provenance["disk.table"] | startswith("profiles/minimal.yaml:")'
jqcheck minimal-azure-gen1 '.layers[-1] == "profiles/targets/azure-gen1.yaml"'
jqcheck minimal-azure-gen1 '.profile.disk.table == "mbr" and .profile.bootloader == "grub-bios"'
jqcheck minimal-azure-gen1 '[.profile.disk.partitions[].role] == ["root"]'
jqcheck minimal-azure-gen2 '.profile.outputs == ["vhd"]'
jqcheck minimal-azure-gen2 '[.profile.kernel.cmdline[].arg] == ["console=ttyS0", "rw", "earlyprintk=ttyS0", "rootdelay=300", "net.ifnames=0"]'
jqcheck minimal-azure-gen2 '.provenance["kernel.cmdline[3].arg"] | startswith("profiles/targets/azure-gen2.yaml:")'
jqcheck minimal-azure-gen2 '[.profile.packages.install[].name] | index("cloud-init") != null'
jqcheck minimal-hyperv-gen2 '.profile.bootloader == "shim" and .profile.outputs == ["vhdx"] and .profile.kernel.target == "hyperv"'

# Text output: YAML with provenance comments.
run 0 "$VMC" profile show profiles/minimal.yaml && expect "$T/out" "^name: minimal +# profiles/minimal.yaml:4:7$"
run 0 "$VMC" profile show --resolved profiles/minimal.yaml &&
        expect "$T/out" "^  release: bookworm +# profiles/base/debian-12.yaml:[0-9]+:[0-9]+$"
expect "$T/out" "^  table: gpt +# profiles/minimal.yaml"
expect "$T/out" "^  recommends: false +# profiles/base/debian-12.yaml"

# --- bad input: exit 2 and file:line:col ---
B='name: t
distro: {family: debian, release: bookworm, architecture: amd64}
'
bad "${B}pakages: {}
" "bad.yaml:3:1: unknown key 'pakages'.*did you mean 'packages'\?"
bad "${B}packages: [a]
" "bad.yaml:3:11: packages: expected a mapping, got a list"
bad "${B}disk:
  partitions:
    - {role: root, size: 12Q}
" "bad.yaml:5:26: disk.partitions\[0\].size: invalid size '12Q'"
bad "${B}kernel: {initramfs: vmcompose}
" "bad.yaml:3:21: kernel.initramfs: vmcompose loads the drivers of the kernel target; name one"
bad "${B}kernel: {initramfs: dracut}
" "bad.yaml:3:21: kernel.initramfs: .*initramfs-tools, vmcompose"
bad "${B}disk: {size: -1G}
" "invalid size '-1G'"
bad "${B}disk: {size: 99999999999999999999}
" "does not fit in 64 bits"
bad "${B}disk: {size: 16E}
" "size '16E' does not fit in 64 bits"
bad "${B}disk:
  partitions:
    - {role: root, size: 0}
" "size must not be zero"
bad "distro: {family: debian, release: bookworm, architecture: amd64}
" "bad.yaml: missing required key 'name'"
bad "${B}name: again
" "bad.yaml:3:1: duplicate key 'name' \(first given at line 1\)"
bad "${B}packages: {install: [aa], remove: [aa]}
" "'aa' is in both install and remove"
bad "${B}policy: [headles]
" "policy 'headles' not found.*available: container-runtime headless minimal-data minimal-docs"
bad "${B}system:
  files:
    - {path: /etc/x, content: a, source: b}
" "exactly one of content: or source:"
bad "${B}bootloader: systemd-boot
disk:
  partitions:
    - {role: root, size: auto}
" "bootloader: systemd-boot boots through UEFI and needs a partition with role esp"
bad "" "missing required key 'name'"
bad "- a
- b
" "bad.yaml:1:1: the top level must be a mapping, not a list"
bad "name: [unclosed
" "bad.yaml:2:1: YAML syntax error"
bad "name: t
distro: {family: debian}
description: x
packages: {install: [openssh-server,
  less
outputs: [raw]
" "bad.yaml:6:8: YAML syntax error: did not find expected ',' or ']' while parsing a flow sequence; the flow sequence started at .*bad.yaml:4:21$"
printf 'name: caf\xc3\n' >"$T/bad.yaml"
run 2 "$VMC" profile validate "$T/bad.yaml" && expect "$T/err" "bad.yaml:1:10: invalid input"
printf 'name: \x80\n' >"$T/bad.yaml"
run 2 "$VMC" profile validate "$T/bad.yaml" && expect "$T/err" "bad.yaml:1:7: invalid input"

# extends: cycles, missing files, unreadable files.
printf '%sextends: b.yaml\n' "$B" >"$T/a.yaml"
printf 'extends: a.yaml\n' >"$T/b.yaml"
run 2 "$VMC" profile validate "$T/a.yaml" && expect "$T/err" "extends: cycle: .*a.yaml -> .*b.yaml -> .*a.yaml"
printf '%sextends: nowhere.yaml\n' "$B" >"$T/c.yaml"
run 2 "$VMC" profile validate "$T/c.yaml" && expect "$T/err" "c.yaml:3:10: cannot read '.*nowhere.yaml': No such file or directory"
run 2 "$VMC" profile validate "$T" && expect "$T/err" "cannot read profile: Is a directory"
run 2 "$VMC" profile validate "$T/missing.yaml" && expect "$T/err" "missing.yaml: cannot read profile: No such file or directory"

# A billion-laughs document fails fast, and so does nesting 200 levels deep.
{
        echo 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]'
        for i in 1 2 3 4 5 6 7 8 9; do
                p=$((i - 1))
                echo "a$i: &a$i [*a$p, *a$p, *a$p, *a$p, *a$p, *a$p, *a$p, *a$p, *a$p, *a$p]"
        done
} >"$T/bad.yaml"
run 2 "$VMC" profile validate "$T/bad.yaml" && expect "$T/err" "more than 100000 nodes"
{
        printf 'name: '
        for _ in $(seq 200); do printf '['; done
        for _ in $(seq 200); do printf ']'; done
        echo
} >"$T/bad.yaml"
run 2 "$VMC" profile validate "$T/bad.yaml" && expect "$T/err" "nesting deeper than 64 levels"

# Hostile system: values (quotes, $(...), backticks, newlines) that can never be legitimate are
# refused at load, naming file:line:col; no command runs (the marker file never appears).
M=$T/pwned
hostile() { # LINE:COL-REGEX YAML
        bad "${B}$2" "bad.yaml:$1"
        checks=$((checks + 1))
        [ ! -e "$M" ] || { echo "FAIL: a command in a profile value ran"; failures=$((failures + 1)); }
}
hostile "3:20: invalid hostname" "system: {hostname: \"h\$(touch $M)\"}
"
hostile "3:18: invalid locale" "system: {locale: \"C.UTF-8'; touch $M; '\"}
"
hostile "4:28: invalid login shell '\\\$\\(touch" "system:
  users: [{name: u, shell: \"\$(touch $M)\"}]
"
hostile "4:28: invalid login shell" "system:
  users: [{name: u, shell: \"/bin/sh\\nroot::0:0::/:/bin/sh\"}]
"
hostile "4:18: invalid user or group name 'u:0'" "system:
  users: [{name: \"u:0\"}]
"
hostile "4:32: an SSH key must be one line" "system:
  users: [{name: u, ssh-keys: [\"ssh-ed25519 AAAA a\\nssh-rsa BBBB evil\"]}]
"
hostile "4:36: invalid password hash" "system:
  users: [{name: u, password-hash: \"x:0:0\\n\"}]
"
hostile "4:23: invalid unit name 'ssh.touch" "system:
  services: {enable: ['ssh\`touch $M\`']}
"
hostile "4:24: invalid unit name '--root=/'" "system:
  services: {disable: [--root=/]}
"
hostile "4:23: invalid unit name '../../etc/x'" "system:
  generators: {mask: [../../etc/x]}
"
hostile "4:18: path '/etc/a\\.\\.\\.' contains a control character" "system:
  files: [{path: \"/etc/a\\nb\", content: x}]
"
hostile "3:20: invalid kernel command line argument" "kernel: {cmdline: [\"quiet\\ninit=/bin/sh\"]}
"
bad "${B}disk:
  partitions:
    - {role: esp, size: 100M}
    - {role: root, size: auto, fs: vfat}
" "bad.yaml:6:36: a root partition cannot be vfat"
# Values that may hold such characters are taken literally (file content, key comments).
cat >"$T/literal.yaml" <<EOT
${B}system:
  users: [{name: u, shell: /bin/bash, ssh-keys: ["ssh-ed25519 AAAA it's \"q\" \$(touch $M) \`touch $M\`"]}]
  files: [{path: "/etc/it's \$(x)", content: "a'b \$(touch $M) \`touch $M\`\\n"}]
EOT
run 0 "$VMC" profile validate "$T/literal.yaml"
checks=$((checks + 1))
[ ! -e "$M" ] || { echo "FAIL: a command in a profile value ran"; failures=$((failures + 1)); }

# Several files at once: each is reported, the status is 2 if any failed.
printf '%s' "$B" >"$T/good.yaml"
printf 'zzz: 1\n' >"$T/bad.yaml"
run 2 "$VMC" profile validate "$T/good.yaml" "$T/bad.yaml" && expect "$T/err" "good.yaml: ok"

# --- build ---
run 2 "$VMC" build "$T/bad.yaml" -o "$T/out1" && expect "$T/err" "unknown key 'zzz'"
checks=$((checks + 1))
[ ! -e "$T/out1" ] || { echo "FAIL: a bad profile created the output directory"; failures=$((failures + 1)); }

echo "$checks checks, $failures failure(s)"
[ $failures -eq 0 ]
