/* SPDX-License-Identifier: MIT */
/* The profile, policy and kernel-target schemas as data. docs/profile.md describes the same keys
 * for people; tests/unit/test-profile.c checks the two agree. */
#include <string.h>

#include "schema-checks.h"
#include "vmcompose/schema.h"

const char *const deviation_categories[] = {
        "security",
        "size",
        "platform",
        "feature-disable",
        "customization",
        "compliance",
        "performance",
        "reproducibility",
        NULL,
};

static const char *const families[] = {"debian", "fedora", "azurelinux", NULL};
static const char *const architectures[] = {"amd64",   "arm64", "i386",    "armhf",
                                            "ppc64el", "s390x", "riscv64", NULL};
static const char *const package_bases[] = {"essential", "required", "important", "none", NULL};
static const char *const bootloaders[] = {"systemd-boot", "grub-bios", "grub-efi",
                                          "shim",         "uki",       NULL};
static const char *const tables[] = {"gpt", "mbr", NULL};
static const char *const initramfs_modules[] = {"most", "target", NULL};
static const char *const initramfs_makers[] = {"initramfs-tools", "vmcompose", NULL};
static const char *const roles[] = {"esp", "bios-boot", "boot", "root", "swap", "data", NULL};
static const char *const filesystems[] = {"vfat", "ext4", "xfs", "erofs", "swap", NULL};
static const char *const output_formats[] = {"raw", "raw.zst", "vhd", "vhdx", "qcow2", "tar", NULL};
static const char *const output_compressions[] = {"none", "zlib", "zstd", NULL};
static const char *const system_shorthand[] = {"system", NULL};
static const char *const kernel_modules[] = {"all", "target", NULL};
static const char *const kconfig_values[] = {"y", "m", "y|m", NULL};

#define STRING_ITEM(k)                                                                             \
        (const Field[]) {                                                                          \
                {                                                                                  \
                        .name = "item", .type = FIELD_MAP,                                         \
                        .fields = (const Field[]){                                                 \
                                {.name = k, .type = FIELD_STRING, .flags = FIELD_ITEM_REQUIRED},   \
                                {},                                                                \
                        },                                                                         \
                }                                                                                  \
        }

/* The same, the value checked by fn. */
#define STRING_ITEM_CHECKED(k, fn)                                                                 \
        (const Field[]) {                                                                          \
                {                                                                                  \
                        .name = "item", .type = FIELD_MAP,                                         \
                        .fields = (const Field[]){                                                 \
                                {.name = k,                                                        \
                                 .type = FIELD_STRING,                                             \
                                 .flags = FIELD_ITEM_REQUIRED,                                     \
                                 .check = fn},                                                     \
                                {},                                                                \
                        },                                                                         \
                }                                                                                  \
        }

static const Field repository_fields[] = {
        {.name = "uri",
         .type = FIELD_STRING,
         .flags = FIELD_ITEM_REQUIRED,
         .check = check_uri,
         .help = "repository base URI: http://, https:// or file:// (rpm-md: the baseurl)"},
        {.name = "suite",
         .type = FIELD_STRING,
         .flags = FIELD_ITEM_REQUIRED,
         .help = "suite or codename, e.g. bookworm (rpm-md: the repository id, e.g. fedora)"},
        {.name = "components",
         .type = FIELD_LIST,
         .merge = MERGE_REPLACE,
         .item = &(const Field){.name = "component", .type = FIELD_STRING},
         .flags = FIELD_SCALAR_AS_LIST,
         .default_value = "[main]",
         .help = "archive components"},
        {.name = "signed-by",
         .type = FIELD_PATH,
         .help = "OpenPGP keyring that signs the repository (relative to this file)"},
        {.name = "allow-unsigned",
         .type = FIELD_BOOL,
         .default_value = "false",
         .help = "skip signature checks (local test repositories only; warns on every use)"},
        {.name = "metalink",
         .type = FIELD_STRING,
         .check = check_uri,
         .help = "rpm-md: a metalink (mirrors and repomd.xml's digest), tried before uri"},
        {.name = "gpgcheck",
         .type = FIELD_BOOL,
         .default_value = "true",
         .help = "rpm-md: check each package's signature against signed-by"},
        {.name = "priority",
         .type = FIELD_UINT,
         .default_value = "99",
         .help = "rpm-md: dnf's priority, the lower the preferred"},
        {.name = "cost",
         .type = FIELD_UINT,
         .default_value = "1000",
         .help = "rpm-md: dnf's cost, among equal priorities the lower the preferred"},
        {},
};

static const Field package_item[] = {{
        .name = "package",
        .type = FIELD_MAP,
        .check = check_package_item,
        .fields =
                (const Field[]){
                        {.name = "name", .type = FIELD_STRING, .flags = FIELD_ITEM_REQUIRED},
                        {},
                },
}};

static const Field partition_fields[] = {
        {.name = "role",
         .type = FIELD_ENUM,
         .values = roles,
         .flags = FIELD_ITEM_REQUIRED,
         .help = "what the partition is for: esp, bios-boot, boot, root, swap, data"},
        {.name = "size",
         .type = FIELD_SIZE,
         .flags = FIELD_ITEM_REQUIRED | FIELD_ALLOW_AUTO | FIELD_NONZERO,
         .help = "fixed size (256M) or auto (sized to content plus free)"},
        {.name = "free",
         .type = FIELD_SIZE,
         .flags = FIELD_ALLOW_PERCENT,
         .help = "headroom added to an auto-sized partition: 512M or 20%"},
        {.name = "fs",
         .type = FIELD_ENUM,
         .values = filesystems,
         .help = "filesystem: vfat, ext4, xfs, erofs, swap (default by role)"},
        {.name = "label",
         .type = FIELD_STRING,
         .check = check_label,
         .help = "partition and filesystem label"},
        {},
};

static const Field user_fields[] = {
        {.name = "name",
         .type = FIELD_STRING,
         .flags = FIELD_ITEM_REQUIRED,
         .check = check_user_name},
        {.name = "groups",
         .type = FIELD_LIST,
         .merge = MERGE_REPLACE,
         .item = &(const Field){.name = "group", .type = FIELD_STRING, .check = check_user_name},
         .help = "supplementary groups"},
        {.name = "ssh-keys",
         .type = FIELD_LIST,
         .merge = MERGE_REPLACE,
         .item = &(const Field){.name = "key", .type = FIELD_STRING, .check = check_ssh_key},
         .help = "authorized_keys lines"},
        {.name = "password-hash",
         .type = FIELD_STRING,
         .check = check_password_hash,
         .help = "crypt(3) hash; absent means the password is locked"},
        {.name = "shell",
         .type = FIELD_STRING,
         .check = check_login_shell,
         .help = "login shell (an absolute path)"},
        {.name = "uid", .type = FIELD_UINT, .help = "numeric user ID"},
        {},
};

static const Field file_fields[] = {
        {.name = "path",
         .type = FIELD_STRING,
         .flags = FIELD_ITEM_REQUIRED,
         .check = check_abs_path,
         .help = "absolute path inside the image"},
        {.name = "mode",
         .type = FIELD_STRING,
         .check = check_mode,
         .default_value = "0644",
         .help = "octal permission bits"},
        {.name = "content", .type = FIELD_STRING, .help = "the file's text"},
        {.name = "source",
         .type = FIELD_PATH,
         .help = "a host file to copy (relative to this profile)"},
        {},
};

static const Field sysctl_fields[] = {
        {.name = "name",
         .type = FIELD_STRING,
         .flags = FIELD_ITEM_REQUIRED,
         .check = check_sysctl_name,
         .help = "the parameter, dotted: net.ipv4.ip_forward"},
        {.name = "value",
         .type = FIELD_STRING,
         .flags = FIELD_ITEM_REQUIRED,
         .check = check_sysctl_value,
         .help = "its value"},
        {},
};

static const Field container_fields[] = {
        {.name = "name",
         .type = FIELD_STRING,
         .flags = FIELD_ITEM_REQUIRED,
         .check = check_name,
         .help = "the container's name (its run: unit is vmcompose-container-NAME.service)"},
        {.name = "image",
         .type = FIELD_STRING,
         .check = check_image_ref,
         .help = "the image's name in containerd (default: localhost/NAME:latest)"},
        {.name = "path",
         .type = FIELD_PATH,
         .flags = FIELD_ITEM_REQUIRED,
         .help = "an OCI image layout directory or an OCI archive (tar), relative to this "
                 "profile"},
        {.name = "digest",
         .type = FIELD_STRING,
         .flags = FIELD_ITEM_REQUIRED,
         .check = check_oci_digest,
         .help = "the image manifest's digest, sha256:HEX"},
        {.name = "run",
         .type = FIELD_LIST,
         .merge = MERGE_REPLACE,
         .item = &(const Field){.name = "arg", .type = FIELD_STRING, .check = check_unit_arg},
         .help = "run the container at boot with these arguments (ctr run --rm), after "
                 "containerd"},
        {},
};

static const Field profile_fields[] = {
        {.name = "extends",
         .type = FIELD_LIST,
         .flags = FIELD_SCALAR_AS_LIST,
         .item = &(const Field){.name = "profile", .type = FIELD_PATH},
         .help = "profile file(s) this one is an overlay on, applied in order"},
        {.name = "name",
         .type = FIELD_STRING,
         .flags = FIELD_REQUIRED,
         .check = check_name,
         .help = "image name: output files are NAME.raw, NAME.vhd, ..."},
        {.name = "description", .type = FIELD_STRING, .help = "free text"},
        {.name = "distro",
         .type = FIELD_MAP,
         .flags = FIELD_REQUIRED,
         .help = "the upstream distribution snapshot",
         .fields =
                 (const Field[]){
                         {.name = "family",
                          .type = FIELD_ENUM,
                          .values = families,
                          .flags = FIELD_REQUIRED,
                          .help = "package family: debian, fedora or azurelinux"},
                         {.name = "release",
                          .type = FIELD_STRING,
                          .flags = FIELD_REQUIRED,
                          .help = "release codename or number, e.g. bookworm"},
                         {.name = "architecture",
                          .type = FIELD_ENUM,
                          .values = architectures,
                          .flags = FIELD_REQUIRED,
                          .help = "Debian architecture name, e.g. amd64"},
                         {.name = "repositories",
                          .type = FIELD_LIST,
                          .merge = MERGE_REPLACE,
                          .default_value = "[system]",
                          .help = "system (the host's apt sources) or {uri, suite, components, "
                                  "signed-by}; an overlay's list replaces the base's",
                          .item = &(const Field){.name = "repository",
                                                 .type = FIELD_MAP,
                                                 .fields = repository_fields,
                                                 .values = system_shorthand}},
                         {},
                 }},
        {.name = "packages",
         .type = FIELD_MAP,
         .help = "the package set",
         .fields =
                 (const Field[]){
                         {.name = "base",
                          .type = FIELD_ENUM,
                          .values = package_bases,
                          .default_value = "required",
                          .help = "distribution base set: essential, required, important or none"},
                         {.name = "install",
                          .type = FIELD_LIST,
                          .merge = MERGE_ACCUMULATE,
                          .key = "name",
                          .cancels = "remove",
                          .item = package_item,
                          .help = "packages to install: NAME or {name, why}; accumulates over "
                                  "overlays"},
                         {.name = "remove",
                          .type = FIELD_LIST,
                          .merge = MERGE_ACCUMULATE,
                          .key = "name",
                          .cancels = "install",
                          .item = package_item,
                          .help = "packages never to install; removes them from what was "
                                  "inherited"},
                         {.name = "groups",
                          .type = FIELD_LIST,
                          .merge = MERGE_ACCUMULATE,
                          .item = &(const Field){.name = "group", .type = FIELD_STRING},
                          .flags = FIELD_SCALAR_AS_LIST,
                          .help = "rpm-md: comps groups (core) whose mandatory and default "
                                  "packages are installed, as dnf's @core; accumulates"},
                         {.name = "recommends",
                          .type = FIELD_BOOL,
                          .default_value = "false",
                          .help = "install Recommends too"},
                         {},
                 }},
        {.name = "policy",
         .type = FIELD_LIST,
         .merge = MERGE_ACCUMULATE,
         .key = "name",
         .flags = FIELD_SCALAR_AS_LIST,
         .help = "policies (profiles/policies/NAME.yaml, or a path) the image must satisfy",
         .item = (const Field[]){{.name = "policy",
                                  .type = FIELD_MAP,
                                  .check = check_policy_item,
                                  .fields =
                                          (const Field[]){
                                                  {.name = "name",
                                                   .type = FIELD_STRING,
                                                   .flags = FIELD_ITEM_REQUIRED},
                                                  {},
                                          }}}},
        {.name = "allow",
         .type = FIELD_LIST,
         .merge = MERGE_ACCUMULATE,
         .key = "name",
         .help = "exceptions to the policies: a package name or an absolute path glob the "
                 "policies forbid, each with the why: it is needed",
         .item = (const Field[]){{.name = "allow",
                                  .type = FIELD_MAP,
                                  .check = check_allow_item,
                                  .fields =
                                          (const Field[]){
                                                  {.name = "name",
                                                   .type = FIELD_STRING,
                                                   .flags = FIELD_ITEM_REQUIRED},
                                                  {},
                                          }}}},
        {.name = "kernel",
         .type = FIELD_MAP,
         .help = "the kernel",
         .fields =
                 (const Field[]){
                         {.name = "package", .type = FIELD_STRING, .help = "kernel package name"},
                         {.name = "cmdline",
                          .type = FIELD_LIST,
                          .merge = MERGE_ACCUMULATE,
                          .key = "arg",
                          .item = STRING_ITEM_CHECKED("arg", check_cmdline_arg),
                          .help = "kernel command line arguments: ARG or {arg, why}; accumulates"},
                         {.name = "target",
                          .type = FIELD_STRING,
                          .check = check_kernel_target,
                          .help = "kernel requirements file: kernel-config/NAME.yaml, or a path"},
                         {.name = "initramfs-modules",
                          .type = FIELD_ENUM,
                          .values = initramfs_modules,
                          .default_value = "most",
                          .help = "initramfs-tools' drivers: most (Debian's default) or target "
                                  "(only the kernel target's initramfs-drivers)"},
                         {.name = "modules",
                          .type = FIELD_ENUM,
                          .values = kernel_modules,
                          .default_value = "all",
                          .help = "the modules the root keeps: all (Debian's set) or target (the "
                                  "kernel target's drivers and modules, the root and ESP "
                                  "filesystems', modules-keep and what they depend on)"},
                         {.name = "modules-keep",
                          .type = FIELD_LIST,
                          .merge = MERGE_ACCUMULATE,
                          .key = "name",
                          .item = STRING_ITEM_CHECKED("name", check_module_name),
                          .help = "modules kernel.modules: target keeps for the image's "
                                  "features: NAME or {name, why}; accumulates"},
                         {.name = "initramfs",
                          .type = FIELD_ENUM,
                          .values = initramfs_makers,
                          .default_value = "initramfs-tools",
                          .help = "what makes the initramfs: initramfs-tools (Debian's, with udev "
                                  "and fsck) or vmcompose (a static init that loads the target's "
                                  "drivers and mounts the root; needs kernel.target)"},
                         {},
                 }},
        {.name = "bootloader",
         .type = FIELD_ENUM,
         .values = bootloaders,
         .help = "systemd-boot, grub-bios, grub-efi, shim (Secure Boot) or uki"},
        {.name = "disk",
         .type = FIELD_MAP,
         .help = "the disk layout",
         .fields =
                 (const Field[]){
                         {.name = "table",
                          .type = FIELD_ENUM,
                          .values = tables,
                          .default_value = "gpt",
                          .help = "partition table: gpt or mbr"},
                         {.name = "size",
                          .type = FIELD_SIZE,
                          .flags = FIELD_ALLOW_AUTO | FIELD_NONZERO,
                          .default_value = "auto",
                          .help = "whole disk size, or auto"},
                         {.name = "partitions",
                          .type = FIELD_LIST,
                          .merge = MERGE_REPLACE,
                          .help = "{role, size, fs, label, free}; an overlay's list replaces the "
                                  "base's",
                          .item = &(const Field){.name = "partition",
                                                 .type = FIELD_MAP,
                                                 .fields = partition_fields,
                                                 .check = check_partition}},
                         {},
                 }},
        {.name = "system",
         .type = FIELD_MAP,
         .help = "configuration applied after packages",
         .fields =
                 (const Field[]){
                         {.name = "hostname", .type = FIELD_STRING, .check = check_hostname},
                         {.name = "locale",
                          .type = FIELD_STRING,
                          .check = check_locale,
                          .help = "e.g. C.UTF-8"},
                         {.name = "timezone",
                          .type = FIELD_STRING,
                          .check = check_timezone,
                          .help = "e.g. Etc/UTC"},
                         {.name = "users",
                          .type = FIELD_LIST,
                          .merge = MERGE_ACCUMULATE,
                          .key = "name",
                          .help = "{name, groups, ssh-keys, password-hash, shell, uid}; merged by "
                                  "name",
                          .item = &(const Field){.name = "user",
                                                 .type = FIELD_MAP,
                                                 .fields = user_fields}},
                         {.name = "services",
                          .type = FIELD_MAP,
                          .fields =
                                  (const Field[]){
                                          {.name = "enable",
                                           .type = FIELD_LIST,
                                           .merge = MERGE_ACCUMULATE,
                                           .key = "name",
                                           .cancels = "disable",
                                           .item = STRING_ITEM_CHECKED("name", check_unit_name),
                                           .help = "systemd units to enable: NAME or {name, why}"},
                                          {.name = "disable",
                                           .type = FIELD_LIST,
                                           .merge = MERGE_ACCUMULATE,
                                           .key = "name",
                                           .cancels = "enable",
                                           .item = STRING_ITEM_CHECKED("name", check_unit_name),
                                           .help = "systemd units to disable"},
                                          {.name = "mask",
                                           .type = FIELD_LIST,
                                           .merge = MERGE_ACCUMULATE,
                                           .key = "name",
                                           .item = STRING_ITEM_CHECKED("name", check_unit_name),
                                           .help = "systemd units to mask: never started, "
                                                   "even when another unit wants them"},
                                          {},
                                  }},
                         {.name = "generators",
                          .type = FIELD_MAP,
                          .fields =
                                  (const Field[]){
                                          {.name = "mask",
                                           .type = FIELD_LIST,
                                           .merge = MERGE_ACCUMULATE,
                                           .key = "name",
                                           .item = STRING_ITEM_CHECKED("name", check_unit_name),
                                           .help = "systemd generators not to run at boot "
                                                   "(linked to /dev/null in "
                                                   "/etc/systemd/system-generators)"},
                                          {},
                                  }},
                         {.name = "files",
                          .type = FIELD_LIST,
                          .merge = MERGE_ACCUMULATE,
                          .key = "path",
                          .help = "{path, mode, content | source}; a later overlay's path wins",
                          .item = &(const Field){.name = "file",
                                                 .type = FIELD_MAP,
                                                 .fields = file_fields,
                                                 .check = check_file_item}},
                         {.name = "overlay",
                          .type = FIELD_LIST,
                          .merge = MERGE_ACCUMULATE,
                          .key = "path",
                          .flags = FIELD_SCALAR_AS_LIST,
                          .help = "directories copied onto the root (relative to this profile)",
                          .item = (const Field[]){{.name = "overlay",
                                                   .type = FIELD_MAP,
                                                   .fields =
                                                           (const Field[]){
                                                                   {.name = "path",
                                                                    .type = FIELD_PATH,
                                                                    .flags = FIELD_ITEM_REQUIRED},
                                                                   {},
                                                           }}}},
                         {.name = "sysctl",
                          .type = FIELD_LIST,
                          .merge = MERGE_ACCUMULATE,
                          .key = "name",
                          .help = "kernel parameters set at boot "
                                  "(/etc/sysctl.d/90-vmcompose.conf): "
                                  "{name, value, why}; a later overlay's name wins",
                          .item = &(const Field){.name = "sysctl",
                                                 .type = FIELD_MAP,
                                                 .fields = sysctl_fields}},
                         {.name = "scripts",
                          .type = FIELD_LIST,
                          .merge = MERGE_ACCUMULATE,
                          .key = "run",
                          .flags = FIELD_ALLOW_DUPLICATES,
                          .item = STRING_ITEM("run"),
                          .help = "shell commands run in the root after packages: CMD or {run, "
                                  "why}"},
                         {},
                 }},
        {.name = "containers",
         .type = FIELD_LIST,
         .merge = MERGE_ACCUMULATE,
         .key = "name",
         .help = "container images baked into containerd's store: {name, path, digest, image, "
                 "run, why}; merged by name",
         .item = &(
                 const Field){.name = "container", .type = FIELD_MAP, .fields = container_fields}},
        {.name = "outputs",
         .type = FIELD_LIST,
         .merge = MERGE_REPLACE,
         .default_value = "[raw]",
         .flags = FIELD_SCALAR_AS_LIST | FIELD_KEEP_SHORTHAND,
         .key = "format",
         .item = &(const Field){.name = "output",
                                .type = FIELD_MAP,
                                .check = check_output_item,
                                .fields =
                                        (const Field[]){
                                                {.name = "format",
                                                 .type = FIELD_ENUM,
                                                 .flags = FIELD_ITEM_REQUIRED,
                                                 .values = output_formats},
                                                {.name = "compression",
                                                 .type = FIELD_ENUM,
                                                 .values = output_compressions,
                                                 .help = "qcow2: compress each cluster (default "
                                                         "none)"},
                                                {},
                                        }},
         .help = "FORMAT or {format, compression}: raw, raw.zst, vhd, vhdx, qcow2, tar; an "
                 "overlay's list replaces the base's"},
        {.name = "reproducible",
         .type = FIELD_MAP,
         .help = "reproducible builds",
         .fields =
                 (const Field[]){
                         {.name = "seed",
                          .type = FIELD_STRING,
                          .help = "fixes every generated UUID (default: the profile's name)"},
                         {.name = "source-date-epoch",
                          .type = FIELD_UINT,
                          .help = "timestamp (seconds since 1970) for every file and header"},
                         {},
                 }},
        {},
};

const Field profile_schema = {.name = "profile", .type = FIELD_MAP, .fields = profile_fields};

static const Field glob_item[] = {{
        .name = "item",
        .type = FIELD_MAP,
        .fields =
                (const Field[]){
                        {.name = "pattern", .type = FIELD_STRING, .flags = FIELD_ITEM_REQUIRED},
                        {},
                },
}};

static const Field policy_fields[] = {
        {.name = "name", .type = FIELD_STRING, .flags = FIELD_REQUIRED, .check = check_name},
        {.name = "description", .type = FIELD_STRING},
        {.name = "forbid",
         .type = FIELD_MAP,
         .fields =
                 (const Field[]){
                         {.name = "packages",
                          .type = FIELD_LIST,
                          .merge = MERGE_ACCUMULATE,
                          .key = "pattern",
                          .item = glob_item,
                          .help = "package names or globs that must never be installed"},
                         {.name = "sections",
                          .type = FIELD_LIST,
                          .merge = MERGE_ACCUMULATE,
                          .key = "pattern",
                          .item = glob_item,
                          .help = "Debian archive sections (x11, gnome, sound, fonts, ...)"},
                         {.name = "paths",
                          .type = FIELD_LIST,
                          .merge = MERGE_ACCUMULATE,
                          .key = "pattern",
                          .item = glob_item,
                          .help = "path globs that must not exist in the finished root"},
                         {},
                 }},
        {.name = "strip",
         .type = FIELD_MAP,
         .fields =
                 (const Field[]){
                         {.name = "paths",
                          .type = FIELD_LIST,
                          .merge = MERGE_ACCUMULATE,
                          .key = "pattern",
                          .item = glob_item,
                          .help = "path globs never unpacked (dpkg path-exclude)"},
                         {.name = "keep",
                          .type = FIELD_LIST,
                          .merge = MERGE_ACCUMULATE,
                          .key = "pattern",
                          .item = glob_item,
                          .help = "exceptions to strip.paths (dpkg path-include)"},
                         {.name = "remove",
                          .type = FIELD_LIST,
                          .merge = MERGE_ACCUMULATE,
                          .key = "pattern",
                          .item = glob_item,
                          .help = "paths removed once the packages are configured (files "
                                  "a package's own scripts need), with the alternatives "
                                  "that point at them"},
                         {},
                 }},
        {},
};

const Field policy_schema = {.name = "policy", .type = FIELD_MAP, .fields = policy_fields};

static const Field kernel_target_fields[] = {
        {.name = "name", .type = FIELD_STRING, .flags = FIELD_REQUIRED, .check = check_name},
        {.name = "description", .type = FIELD_STRING},
        {.name = "cmdline",
         .type = FIELD_LIST,
         .merge = MERGE_ACCUMULATE,
         .key = "arg",
         .item = STRING_ITEM_CHECKED("arg", check_cmdline_arg),
         .help = "arguments the kernel command line must carry"},
        {.name = "forbid-cmdline",
         .type = FIELD_LIST,
         .merge = MERGE_ACCUMULATE,
         .key = "arg",
         .item = STRING_ITEM("arg"),
         .help = "arguments the command line must not carry"},
        {.name = "initramfs-drivers",
         .type = FIELD_LIST,
         .merge = MERGE_ACCUMULATE,
         .key = "name",
         .item = STRING_ITEM_CHECKED("name", check_module_name),
         .help = "modules that must be in the initramfs"},
        {.name = "modules",
         .type = FIELD_LIST,
         .merge = MERGE_ACCUMULATE,
         .key = "name",
         .item = STRING_ITEM_CHECKED("name", check_module_name),
         .help = "modules the platform's devices use after boot, which kernel.modules: target "
                 "keeps in the root with initramfs-drivers"},
        {.name = "kconfig",
         .type = FIELD_LIST,
         .merge = MERGE_ACCUMULATE,
         .key = "option",
         .item = (const Field[]){{.name = "item",
                                  .type = FIELD_MAP,
                                  .fields =
                                          (const Field[]){
                                                  {.name = "option",
                                                   .type = FIELD_STRING,
                                                   .flags = FIELD_ITEM_REQUIRED,
                                                   .check = check_kconfig},
                                                  {.name = "value",
                                                   .type = FIELD_ENUM,
                                                   .values = kconfig_values,
                                                   .default_value = "y|m"},
                                                  {},
                                          }}},
         .help = "CONFIG_ options the kernel must have: CONFIG_X or {option, value: y|m}"},
        {},
};

const Field kernel_target_schema = {
        .name = "kernel-target", .type = FIELD_MAP, .fields = kernel_target_fields};
