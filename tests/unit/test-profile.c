/* SPDX-License-Identifier: MIT */
/* The profile language: every merge rule, every class of bad input, provenance. Each test
 * writes its profiles into a fresh temporary directory and loads them with profile_load(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "vmcompose/profile.h"

#define BASE                                                                                       \
        "name: t\n"                                                                                \
        "distro:\n"                                                                                \
        "  family: debian\n"                                                                       \
        "  release: bookworm\n"                                                                    \
        "  architecture: amd64\n"

static char dir[64];

static int setup(void **state) {
        (void)state;
        strcpy(dir, "/tmp/vmcompose-profile-XXXXXX");
        return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
        (void)state;
        char *cmd = xasprintf("rm -rf '%s'", dir);
        int r = system(cmd);
        free(cmd);
        return r;
}

static char *path_of(const char *name) {
        return path_join(dir, name);
}

static void put(const char *name, const char *content) {
        char *p = path_of(name);
        char *d = path_dirname(p);
        char *cmd = xasprintf("mkdir -p '%s'", d);
        assert_int_equal(system(cmd), 0);
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        fputs(content, f);
        fclose(f);
        free(cmd);
        free(d);
        free(p);
}

static const char *data_dir(void) {
        const char *d = getenv("VMCOMPOSE_DATA_DIR");
        return d ? d : ".";
}

static int load(const char *name, const char *target, Diagnostics *diag, Profile **ret) {
        char *p = path_of(name);
        ProfileLoadOptions opts = {.data_dir = data_dir(), .target = target};
        int r = profile_load(p, &opts, diag, ret);
        free(p);
        return r;
}

static Profile *load_ok(const char *name) {
        Diagnostics diag = {};
        Profile *p = NULL;
        int r = load(name, NULL, &diag, &p);
        if (r < 0) {
                for (size_t i = 0; i < diag.n_errors; i++)
                        print_error("%s\n", diag.messages[i]);
                fail_msg("loading %s failed: %d", name, r);
        }
        assert_int_equal(diag.n_errors, 0);
        diag_done(&diag);
        return p;
}

/* Loads name, expects failure, and returns every message joined by newlines. */
static char *load_fail(const char *name) {
        Diagnostics diag = {};
        Profile *p = NULL;
        int r = load(name, NULL, &diag, &p);
        if (r >= 0)
                fail_msg("loading %s succeeded, expected an error", name);
        assert_null(p);
        assert_true(diag.n_errors > 0);
        Buffer b = {};
        for (size_t i = 0; i < diag.n_errors; i++)
                buffer_printf(&b, "%s\n", diag.messages[i]);
        diag_done(&diag);
        return buffer_steal(&b);
}

/* Writes content as bad.yaml, expects loading it to fail with every needle in the messages. */
static void expect_error(const char *content, ...) {
        put("bad.yaml", content);
        char *msg = load_fail("bad.yaml");
        va_list ap;
        va_start(ap, content);
        for (const char *needle; (needle = va_arg(ap, const char *));)
                if (!strstr(msg, needle))
                        fail_msg("expected '%s' in:\n%s", needle, msg);
        va_end(ap);
        free(msg);
}

static const char *get(const Profile *p, const char *dotted) {
        Node *n = node_lookup(p->tree, dotted);
        if (!n)
                fail_msg("%s is not set", dotted);
        assert_int_equal(n->type, NODE_SCALAR);
        return n->scalar;
}

/* The list at dotted, as "a,b,c" of each item's key (or the scalar). */
static char *list(const Profile *p, const char *dotted, const char *key) {
        Node *n = node_lookup(p->tree, dotted);
        Buffer b = {};
        if (!n)
                return xstrdup("(unset)");
        assert_int_equal(n->type, NODE_SEQ);
        for (size_t i = 0; i < n->n_items; i++) {
                Node *v = key ? node_map_get(n->items[i], key) : n->items[i];
                buffer_printf(&b, "%s%s", i ? "," : "", v ? v->scalar : "?");
        }
        return buffer_steal(&b);
}

static void assert_list(const Profile *p, const char *dotted, const char *key, const char *exp) {
        char *l = list(p, dotted, key);
        if (!streq(l, exp))
                fail_msg("%s: got [%s], expected [%s]", dotted, l, exp);
        free(l);
}

static void assert_mark(const Node *n, const char *file_suffix, unsigned line, unsigned col) {
        assert_non_null(n);
        size_t lf = strlen(n->mark.file), ls = strlen(file_suffix);
        if (lf < ls || !streq(n->mark.file + lf - ls, file_suffix) || n->mark.line != line ||
            n->mark.column != col)
                fail_msg("mark %s:%u:%u, expected *%s:%u:%u", n->mark.file, n->mark.line,
                         n->mark.column, file_suffix, line, col);
}

/* --- merge rules --- */

static void test_maps_merge_key_by_key(void **state) {
        (void)state;
        put("base.yaml", BASE "description: base\nsystem:\n  hostname: b\n  locale: C.UTF-8\n");
        put("top.yaml",
            "extends: base.yaml\ndistro:\n  release: trixie\nsystem:\n  hostname: top\n");
        Profile *p = load_ok("top.yaml");
        assert_string_equal(get(p, "distro.family"), "debian");
        assert_string_equal(get(p, "distro.release"), "trixie");
        assert_string_equal(get(p, "system.hostname"), "top");
        assert_string_equal(get(p, "system.locale"), "C.UTF-8");
        assert_string_equal(get(p, "description"), "base");
        assert_string_equal(p->name, "t");
        assert_int_equal(strv_length(p->layers), 2);
        /* Provenance: each value points at the file and line that set it. */
        assert_mark(node_lookup(p->tree, "distro.release"), "top.yaml", 3, 12);
        assert_mark(node_lookup(p->tree, "distro.family"), "base.yaml", 3, 11);
        assert_mark(node_lookup(p->tree, "system.locale"), "base.yaml", 9, 11);
        profile_free(p);
}

static void test_scalars_override_in_order(void **state) {
        (void)state;
        put("a.yaml", BASE "bootloader: grub-efi\ndescription: a\n");
        put("b.yaml", "bootloader: uki\nreproducible:\n  seed: b\n");
        put("top.yaml", "extends: [a.yaml, b.yaml]\nname: top\n");
        Profile *p = load_ok("top.yaml");
        assert_string_equal(get(p, "bootloader"), "uki"); /* b applied after a */
        assert_string_equal(get(p, "name"), "top");
        assert_string_equal(get(p, "description"), "a");
        assert_string_equal(get(p, "reproducible.seed"), "b");
        assert_string_equal(p->layers[0] + strlen(p->layers[0]) - 6, "a.yaml");
        assert_string_equal(p->layers[1] + strlen(p->layers[1]) - 6, "b.yaml");
        profile_free(p);
}

static void test_install_accumulates(void **state) {
        (void)state;
        put("base.yaml", BASE "packages:\n  install: [aa, bb]\n");
        put("mid.yaml",
            "extends: base.yaml\npackages:\n  install:\n    - cc\n    - name: aa\n      why: "
            "needed\n");
        put("top.yaml", "extends: mid.yaml\npackages:\n  install: [dd]\n");
        Profile *p = load_ok("top.yaml");
        assert_list(p, "packages.install", "name", "aa,bb,cc,dd");
        /* The same package listed again merges into the inherited item: its why is added. */
        Node *aa = node_lookup(p->tree, "packages.install")->items[0];
        assert_string_equal(node_map_get(aa, "why")->scalar, "needed");
        assert_mark(node_map_get(aa, "name"), "base.yaml", 7, 13);
        profile_free(p);
}

static void test_remove_removes_inherited(void **state) {
        (void)state;
        put("base.yaml", BASE "packages:\n  install: [aa, bb, cc]\n");
        put("top.yaml",
            "extends: base.yaml\npackages:\n  remove:\n    - name: bb\n      why: not needed\n");
        Profile *p = load_ok("top.yaml");
        assert_list(p, "packages.install", "name", "aa,cc");
        assert_list(p, "packages.remove", "name", "bb");
        profile_free(p);

        /* A later install takes a package back out of the inherited remove list. */
        put("again.yaml", "extends: top.yaml\npackages:\n  install: [bb]\n");
        p = load_ok("again.yaml");
        assert_list(p, "packages.install", "name", "aa,cc,bb");
        assert_list(p, "packages.remove", "name", "");
        profile_free(p);
}

static void test_lists_that_replace(void **state) {
        (void)state;
        put("base.yaml",
            BASE "outputs: [raw, vhd]\n"
                 "distro:\n  family: debian\n  release: bookworm\n  architecture: amd64\n"
                 "  repositories:\n    - system\n"
                 "disk:\n  partitions:\n    - {role: esp, size: 100M, fs: vfat}\n"
                 "    - {role: root, size: auto}\n");
        /* BASE already has distro: the duplicate above must be an error, so build it right. */
        put("base.yaml", "name: t\noutputs: [raw, vhd]\n"
                         "distro:\n  family: debian\n  release: bookworm\n  architecture: amd64\n"
                         "  repositories:\n    - system\n"
                         "disk:\n  partitions:\n    - {role: esp, size: 100M, fs: vfat}\n"
                         "    - {role: root, size: auto}\n");
        put("top.yaml", "extends: base.yaml\noutputs: qcow2\n"
                        "distro:\n  repositories:\n    - uri: file:///srv/repo\n      suite: "
                        "stable\n"
                        "disk:\n  table: mbr\n  partitions:\n    - {role: root, size: 2G}\n");
        Profile *p = load_ok("top.yaml");
        assert_list(p, "outputs", NULL, "qcow2");
        assert_list(p, "disk.partitions", "role", "root");
        assert_list(p, "distro.repositories", "uri", "file:///srv/repo");
        profile_free(p);
}

static void test_other_accumulating_lists(void **state) {
        (void)state;
        put("base.yaml",
            BASE "kernel:\n  cmdline: [console=ttyS0, quiet]\n"
                 "policy: [headless]\n"
                 "system:\n"
                 "  services:\n    enable: [a.service, b.service]\n"
                 "  users:\n    - name: alice\n      groups: [sudo]\n      shell: /bin/sh\n"
                 "  files:\n    - {path: /etc/x, content: one}\n"
                 "  scripts: [echo hi]\n");
        put("top.yaml", "extends: base.yaml\nkernel:\n  cmdline: [quiet, rootdelay=300]\n"
                        "policy: [minimal-docs, headless]\n"
                        "system:\n"
                        "  services:\n    disable: [b.service]\n"
                        "  users:\n    - name: alice\n      shell: /bin/bash\n    - name: bob\n"
                        "  files:\n    - {path: /etc/x, content: two, mode: '0600'}\n"
                        "    - {path: /etc/y, content: y}\n"
                        "  scripts: [echo hi]\n");
        Profile *p = load_ok("top.yaml");
        assert_list(p, "kernel.cmdline", "arg", "console=ttyS0,quiet,rootdelay=300");
        assert_list(p, "policy", "name", "headless,minimal-docs");
        assert_int_equal(p->n_policies, 2);
        assert_list(p, "system.services.enable", "name", "a.service");
        assert_list(p, "system.services.disable", "name", "b.service");
        assert_list(p, "system.users", "name", "alice,bob");
        Node *alice = node_lookup(p->tree, "system.users")->items[0];
        assert_string_equal(node_map_get(alice, "shell")->scalar, "/bin/bash");
        assert_non_null(node_map_get(alice, "groups")); /* merged key by key */
        assert_list(p, "system.files", "path", "/etc/x,/etc/y");
        Node *x = node_lookup(p->tree, "system.files")->items[0];
        assert_string_equal(node_map_get(x, "content")->scalar, "two");
        assert_string_equal(node_map_get(x, "mode")->scalar, "0600");
        assert_list(p, "system.scripts", "run", "echo hi,echo hi"); /* scripts repeat */
        profile_free(p);
}

static void test_diamond_applied_once(void **state) {
        (void)state;
        put("root.yaml", BASE "packages:\n  install: [aa]\n");
        put("left.yaml", "extends: root.yaml\npackages:\n  remove: [aa]\n");
        put("right.yaml", "extends: root.yaml\ndescription: right\n");
        put("top.yaml", "extends: [left.yaml, right.yaml]\n");
        Profile *p = load_ok("top.yaml");
        /* root.yaml is applied once, first: right.yaml does not bring aa back. */
        assert_list(p, "packages.install", "name", "");
        assert_int_equal(strv_length(p->layers), 4);
        profile_free(p);
}

static void test_target_and_defaults(void **state) {
        (void)state;
        put("top.yaml", BASE "outputs: [raw]\nbootloader: systemd-boot\n"
                             "disk:\n  partitions:\n    - {role: esp, size: 128M}\n"
                             "    - {role: root, size: auto}\n");
        Diagnostics diag = {};
        Profile *p = NULL;
        assert_int_equal(load("top.yaml", "hyperv-gen2", &diag, &p), 0);
        assert_list(p, "outputs", NULL, "vhdx");
        assert_string_equal(get(p, "bootloader"), "shim");
        assert_string_equal(get(p, "kernel.target"), "hyperv");
        assert_non_null(p->kernel_target.tree);
        assert_true(strstr(p->layers[1], "profiles/targets/hyperv-gen2.yaml"));
        /* Defaults fill what nobody set, marked as such. */
        assert_string_equal(get(p, "packages.recommends"), "false");
        assert_string_equal(get(p, "disk.table"), "gpt");
        assert_list(p, "distro.repositories", NULL, "system");
        assert_string_equal(node_lookup(p->tree, "disk.table")->mark.file, "default");
        profile_free(p);

        p = NULL;
        assert_int_equal(load("top.yaml", "no-such-target", &diag, &p), -ENOENT);
        assert_true(strstr(diag.messages[0], "unknown target 'no-such-target'"));
        assert_true(strstr(diag.messages[0], "azure-gen1"));
        diag_done(&diag);
}

static void test_shorthands_and_booleans(void **state) {
        (void)state;
        put("top.yaml",
            BASE "packages:\n  recommends: yes\n"
                 "system:\n  overlay: files\n  files:\n    - {path: /a, source: src/a}\n"
                 "extends: []\n");
        Profile *p = load_ok("top.yaml");
        assert_string_equal(get(p, "packages.recommends"), "true");
        /* Paths resolve against the declaring file's directory. */
        char *l = list(p, "system.overlay", "path");
        char *expect = path_join(dir, "files");
        assert_string_equal(l, expect);
        free(l);
        free(expect);
        Node *f = node_lookup(p->tree, "system.files")->items[0];
        expect = path_join(dir, "src/a");
        assert_string_equal(node_map_get(f, "source")->scalar, expect);
        free(expect);
        profile_free(p);
}

static void test_shipped_profiles(void **state) {
        (void)state;
        static const char *const targets[] = {NULL, "qemu", "azure-gen1", "azure-gen2",
                                              "hyperv-gen2"};
        for (size_t i = 0; i < ELEMENTSOF(targets); i++) {
                char *path = path_join(data_dir(), "profiles/minimal.yaml");
                ProfileLoadOptions opts = {.data_dir = data_dir(), .target = targets[i]};
                Diagnostics diag = {};
                Profile *p = NULL;
                int r = profile_load(path, &opts, &diag, &p);
                for (size_t j = 0; j < diag.n_errors; j++)
                        print_error("%s\n", diag.messages[j]);
                assert_int_equal(r, 0);
                assert_string_equal(p->name, "minimal");
                assert_int_equal(p->n_policies, 3);
                assert_non_null(p->kernel_target.tree);
                profile_free(p);
                diag_done(&diag);
                free(path);
        }
}

/* --- bad input --- */

static void test_unknown_keys(void **state) {
        (void)state;
        expect_error(BASE "pakages:\n  install: [aa]\n", "bad.yaml:6:1: unknown key 'pakages'",
                     "did you mean 'packages'?", NULL);
        expect_error(BASE "packages:\n  instal: [aa]\n",
                     "bad.yaml:7:3: unknown key 'instal' in packages", "did you mean 'install'?",
                     NULL);
        expect_error(BASE "zzzzzzzz: 1\n", "unknown key 'zzzzzzzz'", NULL);
        put("bad.yaml", BASE "zzzzzzzz: 1\n");
        char *m = load_fail("bad.yaml");
        assert_null(strstr(m, "did you mean")); /* nothing close: no suggestion */
        free(m);
        expect_error(BASE "bootloader: systemd-bot\n",
                     "bad.yaml:6:13: bootloader: invalid value "
                     "'systemd-bot' (did you mean 'systemd-boot'?)",
                     NULL);
}

static void test_wrong_types(void **state) {
        (void)state;
        expect_error(BASE "packages: [aa]\n",
                     "bad.yaml:6:11: packages: expected a mapping, got a list", NULL);
        expect_error(BASE "packages:\n  install: aa\n",
                     "bad.yaml:7:12: packages.install: expected a list, got a scalar", NULL);
        expect_error(BASE "packages:\n  recommends: maybe\n",
                     "packages.recommends: expected true or false, got 'maybe'", NULL);
        expect_error(BASE "packages:\n  recommends: \"yes\"\n", "expected true or false", NULL);
        expect_error(BASE "reproducible:\n  source-date-epoch: -5\n",
                     "reproducible.source-date-epoch: expected an unsigned integer", NULL);
        expect_error(BASE "description:\n", "description: expected a string, got null", NULL);
        expect_error(BASE "system:\n  hostname: [a]\n",
                     "system.hostname: expected a string, got a list", NULL);
        expect_error("- a\n- b\n", "bad.yaml:1:1: the top level must be a mapping, not a list",
                     NULL);
        expect_error(BASE "packages:\n  install:\n    - {name: aa, version: 1}\n",
                     "unknown key 'version' in packages.install[0]", NULL);
        expect_error("name: t\ndistro:\n  repositories: [systen]\n",
                     "expected a mapping or 'system'", NULL);
}

static void test_bad_sizes(void **state) {
        (void)state;
#define PART(s) BASE "disk:\n  partitions:\n    - {role: root, size: " s "}\n"
        expect_error(PART("12Q"), "bad.yaml:8:26: disk.partitions[0].size: invalid size '12Q'",
                     NULL);
        expect_error(PART("-1G"), "invalid size '-1G'", NULL);
        expect_error(PART("1.5G"), "invalid size '1.5G'", NULL);
        expect_error(PART("16E"), "size '16E' does not fit in 64 bits", NULL);
        expect_error(PART("99999999999999999999"), "does not fit in 64 bits", NULL);
        expect_error(PART("0"), "size must not be zero", NULL);
        expect_error(PART("10%"), "invalid size '10%'", NULL);
        expect_error(BASE "disk:\n  size: automatic\n", "disk.size: invalid size 'automatic'",
                     NULL);
        expect_error(BASE "disk:\n  partitions:\n    - {role: root, size: auto, free: 120%}\n",
                     "invalid percentage '120%'", NULL);
        expect_error(BASE "disk:\n  partitions:\n    - {role: root, size: 1G, free: 10%}\n",
                     "free: only applies to a partition with size: auto", NULL);
#undef PART
}

static void test_missing_required(void **state) {
        (void)state;
        expect_error("distro:\n  family: debian\n  release: x\n  architecture: amd64\n",
                     "bad.yaml: missing required key 'name'", NULL);
        expect_error("name: x\n", "missing required key 'distro'", NULL);
        expect_error("name: x\ndistro:\n  family: debian\n",
                     "missing required key 'distro.release'",
                     "missing required key 'distro.architecture'", NULL);
        expect_error(BASE "packages:\n  install:\n    - {why: x}\n",
                     "packages.install[0]: missing required key 'name'", NULL);
        expect_error("", "missing required key 'name'", NULL); /* empty file */
}

static void test_duplicates(void **state) {
        (void)state;
        expect_error(BASE "name: again\n",
                     "bad.yaml:6:1: duplicate key 'name' (first given at line 1)", NULL);
        expect_error(BASE "packages:\n  install: [aa, bb, aa]\n",
                     "packages.install: 'aa' is listed twice", NULL);
        expect_error(BASE "packages:\n  install: [aa]\n  remove: [aa]\n",
                     "'aa' is in both install and remove", NULL);
        expect_error(BASE "outputs: [raw, raw]\n", "outputs: 'raw' is listed twice", NULL);
        /* FORMAT and {format: FORMAT} are the same output. */
        expect_error(BASE "outputs: [qcow2, {format: qcow2, compression: zstd}]\n",
                     "outputs: 'qcow2' is listed twice", NULL);
}

/* An output is FORMAT or {format, compression}; only qcow2 compresses. */
static void test_output_compression(void **state) {
        (void)state;
        expect_error(BASE "outputs: [{format: vhd, compression: zstd}]\n",
                     "bad.yaml:6:38: outputs: format 'vhd' has no compression option (only qcow2)",
                     NULL);
        expect_error(BASE "outputs: [{format: qcow2, compression: lz4}]\n", "lz4", NULL);
        expect_error(BASE "outputs: [{compression: zstd}]\n", "format", NULL);
}

static void test_extends_errors(void **state) {
        (void)state;
        put("a.yaml", BASE "extends: b.yaml\n");
        put("b.yaml", "extends: c.yaml\n");
        put("c.yaml", "extends: a.yaml\n");
        char *m = load_fail("a.yaml");
        if (!strstr(m, "a.yaml -> ") || !strstr(m, "b.yaml -> ") || !strstr(m, "c.yaml -> ") ||
            !strstr(m, "extends: cycle"))
                fail_msg("cycle not named: %s", m);
        assert_true(strstr(m, "c.yaml:1:10: "));
        free(m);

        put("self.yaml", BASE "extends: self.yaml\n");
        m = load_fail("self.yaml");
        assert_true(strstr(m, "extends: cycle"));
        free(m);

        expect_error(BASE "extends: missing.yaml\n", "bad.yaml:6:10: cannot read",
                     "missing.yaml': No such file or directory", NULL);
        put("sub/dir.yaml/keep", "");
        expect_error(BASE "extends: sub/dir.yaml\n", "cannot read", "Is a directory", NULL);
        /* An error inside an extended file names that file. */
        put("broken.yaml", "name: [\n");
        expect_error(BASE "extends: broken.yaml\n", "broken.yaml:2:1: YAML syntax error", NULL);
}

static void test_yaml_errors(void **state) {
        (void)state;
        expect_error("name: [a, b\n", "bad.yaml:2:1: YAML syntax error", NULL);
        /* Where the unclosed collection began, not only where the parser gave up. */
        expect_error("name: t\ndistro:\n  family: debian\npackages: {install: [openssh-server,\n"
                     "  less\noutputs: [raw]\n",
                     "bad.yaml:6:8: YAML syntax error: did not find expected ',' or ']' while "
                     "parsing a flow sequence; the flow sequence started at /",
                     "/bad.yaml:4:21", NULL);
        expect_error("name: t\nkernel: {cmdline: x\n",
                     "while parsing a flow mapping; the flow mapping started at /", "/bad.yaml:2:9",
                     NULL);
        /* No "started at" when that is where the parser stopped. */
        expect_error("name: [a,\n",
                     "bad.yaml:2:1: YAML syntax error: did not find expected node "
                     "content while parsing a flow node\n",
                     NULL);
        expect_error("name: a\n  bad: indent\n", "YAML syntax error", NULL);
        expect_error("name: \"unterminated\n", "YAML syntax error", NULL);
        expect_error(BASE "description: caf\xc3\n", "bad.yaml:6:17: invalid input", NULL);
        expect_error(BASE "description: \x80\n", "invalid input", NULL);
        expect_error(BASE "description: a\x01z\n", "invalid input", NULL);
        expect_error(BASE "---\nname: second\n", "one YAML document, found a second", NULL);
        expect_error(BASE "? [complex]\n: key\n", "mapping keys must be plain strings", NULL);
        expect_error(BASE "description: *nothing\n", "unknown alias", NULL);
}

/* The profile's part of the input digest: values, not where the files lie. */
static char *canonical(const char *name) {
        Profile *p = load_ok(name);
        char *text = NULL, *failed = NULL;
        int r = profile_format_canonical(p, &text, &failed);
        if (r < 0)
                fail_msg("canonical %s: %d on %s", name, r, failed);
        profile_free(p);
        return text;
}

static void test_canonical(void **state) {
        (void)state;
        put("a/files/etc/motd", "hello\n");
        put("a/p.yaml", BASE "system:\n  overlay: files\n");
        put("b/files/etc/motd", "hello\n");
        put("b/p.yaml", BASE "system:\n  overlay: files\n");
        char *a = canonical("a/p.yaml"), *b = canonical("b/p.yaml");
        assert_string_equal(a, b);
        assert_null(strstr(a, dir)); /* no path of this machine */
        assert_non_null(strstr(a, "\"overlay\":[{\"path\":\"sha256:"));
        put("b/files/etc/motd", "hello!\n");
        char *c = canonical("b/p.yaml");
        assert_string_not_equal(a, c);
        put("b/files/etc/motd", "hello\n");
        put("b/p.yaml", BASE "description: other\nsystem:\n  overlay: files\n");
        char *d = canonical("b/p.yaml");
        assert_string_not_equal(a, d);
        free(a);
        free(b);
        free(c);
        free(d);
}

static void test_limits(void **state) {
        (void)state;
        /* Billion laughs: 10 levels of 10 aliases each would be 10^10 nodes. */
        Buffer b = {};
        buffer_puts(&b, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for (int i = 1; i < 10; i++) {
                buffer_printf(&b, "a%d: &a%d [", i, i);
                for (int j = 0; j < 10; j++)
                        buffer_printf(&b, "%s*a%d", j ? ", " : "", i - 1);
                buffer_puts(&b, "]\n");
        }
        expect_error(b.data, "more than 100000 nodes", NULL);
        buffer_done(&b);

        /* Nesting deeper than the limit, in flow and block style. */
        for (int i = 0; i < 200; i++)
                buffer_putc(&b, '[');
        for (int i = 0; i < 200; i++)
                buffer_putc(&b, ']');
        buffer_putc(&b, '\n');
        char *doc = xasprintf("name: %s", b.data);
        expect_error(doc, "nesting deeper than 64 levels", NULL);
        free(doc);
        buffer_done(&b);
        for (int i = 0; i < 100; i++) {
                for (int j = 0; j < i; j++)
                        buffer_putc(&b, ' ');
                buffer_printf(&b, "k%d:\n", i);
        }
        expect_error(b.data, "nesting deeper than 64 levels", NULL);
        buffer_done(&b);

        /* Aliases within the budget are fine and expand to copies. */
        put("ok.yaml", BASE "packages:\n  install: &pk [aa, bb]\n  remove: []\n"
                            "system:\n  scripts: *pk\n");
        Profile *p = load_ok("ok.yaml");
        assert_list(p, "system.scripts", "run", "aa,bb");
        profile_free(p);

        /* Too large a file. */
        char *big = xmalloc(PROFILE_MAX_FILE_SIZE + 2);
        memset(big, '#', PROFILE_MAX_FILE_SIZE + 1);
        big[PROFILE_MAX_FILE_SIZE + 1] = 0;
        expect_error(big, "larger than 4 MiB", NULL);
        free(big);
}

/* Package names follow the rules of the resolved profile's family, wherever the family was
 * set: NetworkManager is an RPM name (Fedora's), not a Debian one; a blank is no family's. */
static void test_package_names_per_family(void **state) {
        (void)state;
        put("fedora-base.yaml", "name: t\n"
                                "distro:\n"
                                "  family: fedora\n"
                                "  release: fedora-43\n"
                                "  architecture: amd64\n");
        put("nm-fedora.yaml", "extends: [fedora-base.yaml]\n"
                              "packages:\n"
                              "  install: [NetworkManager, python3.12, 389-ds-base, libstdc++]\n"
                              "  remove: [NetworkManager-wifi]\n");
        Profile *p = load_ok("nm-fedora.yaml");
        profile_free(p);

        put("nm-debian.yaml", BASE "packages:\n  install: [NetworkManager]\n");
        char *msg = load_fail("nm-debian.yaml");
        assert_non_null(strstr(msg, "nm-debian.yaml:7:13: invalid package name 'NetworkManager': "
                                    "Debian package names are lower case"));
        assert_non_null(strstr(msg, "(distro.family: debian, from "));
        assert_non_null(strstr(msg, "nm-debian.yaml:3)"));
        free(msg);

        /* The family from a base file: its rules, and where it was set. */
        put("bad-fedora.yaml", "extends: [fedora-base.yaml]\n"
                               "packages:\n"
                               "  install: [-NetworkManager]\n");
        msg = load_fail("bad-fedora.yaml");
        assert_non_null(strstr(msg, "bad-fedora.yaml:3:13: invalid package name '-NetworkManager'"
                                    ": RPM package names"));
        assert_non_null(strstr(msg, "fedora-base.yaml:3)"));
        free(msg);
        expect_error("extends: [fedora-base.yaml]\npackages:\n  install: ['a b']\n",
                     "invalid package name 'a b': empty, or a blank", NULL);
}

static void test_value_checks(void **state) {
        (void)state;
        expect_error("name: bad/name\ndistro: {family: debian, release: x, architecture: amd64}\n",
                     "invalid name 'bad/name'", NULL);
        expect_error(BASE "packages:\n  install: [Bad_Name]\n", "invalid package name 'Bad_Name'",
                     NULL);
        expect_error(BASE "system:\n  hostname: -bad-\n", "invalid hostname '-bad-'", NULL);
        expect_error(BASE "system:\n  sysctl:\n    - {name: 'net.ipv4 ip_forward', value: '1'}\n",
                     "invalid sysctl name 'net.ipv4 ip_forward'", NULL);
        expect_error(BASE "system:\n  sysctl:\n    - {name: ../x, value: '1'}\n",
                     "invalid sysctl name '../x'", NULL);
        expect_error(BASE "system:\n  sysctl:\n    - {name: a.b, value: \"1\\n2\"}\n",
                     "invalid sysctl value", NULL);
        expect_error(BASE "system:\n  sysctl:\n    - {name: a.b}\n", "value", NULL);
        expect_error(BASE "containers:\n  - {name: x, path: /x, digest: 'sha256:abc'}\n",
                     "invalid digest 'sha256:abc'", NULL);
        expect_error(BASE "containers:\n  - {name: x, path: /x, digest: 'sha256:"
                          "0000000000000000000000000000000000000000000000000000000000000000', "
                          "image: 'no tag'}\n",
                     "invalid image name 'no tag'", NULL);
        expect_error(BASE "containers:\n  - {name: x, digest: 'sha256:"
                          "0000000000000000000000000000000000000000000000000000000000000000'}\n",
                     "path", NULL);
        expect_error(BASE "system:\n  files:\n    - {path: etc/x, content: a}\n",
                     "must be absolute", NULL);
        expect_error(BASE "system:\n  files:\n    - {path: /etc/../x, content: a}\n",
                     "must not contain '..'", NULL);
        expect_error(BASE "system:\n  files:\n    - {path: /x, content: a, source: b}\n",
                     "exactly one of content: or source:", NULL);
        expect_error(BASE "system:\n  files:\n    - {path: /x, mode: '0999', content: a}\n",
                     "invalid mode '0999'", NULL);
        expect_error(BASE "system:\n  users:\n    - name: Root\n", "invalid user or group name",
                     NULL);
        expect_error("name: t\ndistro:\n  family: rpm\n", "invalid value 'rpm'", NULL);
        expect_error(BASE "why: x\ncategory: securty\n", "did you mean 'security'?", NULL);
        expect_error("name: t\ndistro:\n  repositories:\n    - {uri: ftp://x, suite: s}\n",
                     "unsupported repository URI", NULL);
        expect_error("name: t\ndistro:\n  repositories:\n    - {uri: http://x}\n",
                     "missing required key 'suite'", NULL);
        expect_error(BASE "policy: [headles]\n", "policy 'headles' not found",
                     "available:", "headless", NULL);
        expect_error(BASE "kernel:\n  target: nowhere\n", "kernel target 'nowhere' not found",
                     NULL);
        put("pol.yaml", "name: p\nforbid:\n  packges: []\n");
        expect_error(BASE "policy: [./pol.yaml]\n", "pol.yaml:3:3: unknown key 'packges'", NULL);
}

static void test_layout_checks(void **state) {
        (void)state;
        expect_error(
                BASE
                "bootloader: systemd-boot\ndisk:\n  partitions:\n    - {role: root, size: auto}\n",
                "bad.yaml:6:13: bootloader: systemd-boot boots through UEFI and needs a "
                "partition with role esp",
                NULL);
        expect_error(
                BASE
                "bootloader: grub-bios\ndisk:\n  partitions:\n    - {role: root, size: auto}\n",
                "needs a partition with role bios-boot", NULL);
        expect_error(BASE "disk:\n  table: mbr\n  partitions:\n    - {role: bios-boot, size: 1M}\n"
                          "    - {role: root, size: auto}\n",
                     "a bios-boot partition needs table: gpt", NULL);
        expect_error(BASE "disk:\n  partitions:\n    - {role: root, size: auto}\n"
                          "    - {role: data, size: auto}\n",
                     "only one partition may have size: auto", NULL);
        expect_error(BASE "disk:\n  partitions:\n    - {role: root, size: 1G}\n    - {role: root, "
                          "size: 1G}\n",
                     "more than one partition with role root", NULL);
        expect_error(BASE "disk:\n  partitions:\n    - {role: data, size: 1G}\n",
                     "no partition has role root", NULL);
        expect_error(BASE "disk:\n  partitions:\n    - {role: esp, size: 1G, fs: ext4}\n",
                     "an esp partition must have fs: vfat", NULL);
        /* The same layout is fine on MBR with grub-bios. */
        put("ok.yaml", BASE "bootloader: grub-bios\ndisk:\n  table: mbr\n  partitions:\n"
                            "    - {role: root, size: auto}\n");
        profile_free(load_ok("ok.yaml"));
}

static void test_all_errors_reported(void **state) {
        (void)state;
        put("bad.yaml", BASE "pakages: {}\nbootloader: nope\noutputs: [raw, vhdz]\n");
        char *m = load_fail("bad.yaml");
        assert_true(strstr(m, "unknown key 'pakages'"));
        assert_true(strstr(m, "invalid value 'nope'"));
        assert_true(strstr(m, "invalid value 'vhdz'"));
        free(m);
}

static void test_unreadable(void **state) {
        (void)state;
        char *m = NULL;
        Diagnostics diag = {};
        Profile *p = NULL;
        ProfileLoadOptions opts = {.data_dir = data_dir()};
        assert_int_equal(profile_load(dir, &opts, &diag, &p), -EBADMSG);
        assert_true(strstr(diag.messages[0], "Is a directory"));
        diag_done(&diag);
        char *missing = path_of("nope.yaml");
        assert_int_equal(profile_load(missing, &opts, &diag, &p), -EBADMSG);
        assert_true(strstr(diag.messages[0], "nope.yaml: cannot read profile: No such file"));
        diag_done(&diag);
        free(missing);
        free(m);
}

static void check_documented(const Field *f, const char *path, void *userdata) {
        (void)f;
        const char *doc = userdata;
        char *quoted = xasprintf("`%s`", path);
        if (!strstr(doc, quoted))
                fail_msg("docs/profile.md does not document %s", quoted);
        free(quoted);
}

/* Every key the program knows is in docs/profile.md, in backquotes. */
static void test_docs_cover_schema(void **state) {
        (void)state;
        char *doc_path = path_join(data_dir(), "docs/profile.md");
        char *doc;
        assert_int_equal(read_full_file(doc_path, 1 << 20, &doc, NULL), 0);
        schema_walk(&profile_schema, "", check_documented, doc);
        schema_walk(&policy_schema, "", check_documented, doc);
        schema_walk(&kernel_target_schema, "", check_documented, doc);
        for (const char *const *c = deviation_categories; *c; c++)
                check_documented(NULL, *c, doc);
        free(doc);
        free(doc_path);
}

/* --- the typed configuration (profile/config.c) --- */

static void assert_value(const ProfileValue *v, const char *value, const char *file_suffix,
                         unsigned line, const char *why) {
        assert_non_null(v->value);
        assert_string_equal(v->value, value);
        size_t lf = strlen(v->mark.file), ls = strlen(file_suffix);
        if (lf < ls || !streq(v->mark.file + lf - ls, file_suffix) || v->mark.line != line)
                fail_msg("%s at %s:%u, expected *%s:%u", value, v->mark.file, v->mark.line,
                         file_suffix, line);
        if (why)
                assert_string_equal(v->why, why);
        else
                assert_null(v->why);
}

static void test_typed_config(void **state) {
        (void)state;
        put("base.yaml", BASE "system:\n"
                              "  why: base settings\n"
                              "  hostname: base\n"
                              "  locale: C.UTF-8\n"
                              "disk:\n"
                              "  size: 2G\n"
                              "  partitions:\n"
                              "    - {role: esp, size: 64M}\n"
                              "    - {role: root, size: auto, free: 10%}\n");
        put("top.yaml", "extends: base.yaml\n"
                        "name: top\n"
                        "system:\n"
                        "  why: the top's own\n"
                        "  hostname: top\n"
                        "  users:\n"
                        "    - {name: admin, groups: [sudo], ssh-keys: ['ssh-ed25519 AAAA x'],\n"
                        "       uid: 1001, why: operators}\n"
                        "  files:\n"
                        "    - {path: /etc/motd, content: hi, mode: '0600'}\n"
                        "  services:\n"
                        "    enable: [ssh.service]\n"
                        "  scripts:\n"
                        "    - run: 'true'\n"
                        "      why: nothing\n"
                        "packages:\n"
                        "  install: [vim]\n"
                        "reproducible:\n"
                        "  source-date-epoch: 1700000000\n");
        Profile *p = load_ok("top.yaml");
        const ProfileConfig *c = &p->config;

        /* A setting carries the why: of the mapping around it in the file that set it. */
        assert_value(&c->system.hostname, "top", "top.yaml", 5, "the top's own");
        assert_value(&c->system.locale, "C.UTF-8", "base.yaml", 9, "base settings");
        assert_null(c->system.timezone.value);
        assert_true(c->has_system);
        assert_int_equal(c->system.n_users, 1);
        assert_value(&c->system.users[0].name, "admin", "top.yaml", 7, "operators");
        assert_string_equal(c->system.users[0].uid, "1001");
        assert_string_equal(c->system.users[0].groups[0], "sudo");
        assert_string_equal(c->system.users[0].ssh_keys[0], "ssh-ed25519 AAAA x");
        assert_int_equal(c->system.n_files, 1);
        assert_int_equal(c->system.files[0].mode, 0600);
        assert_string_equal(c->system.files[0].content, "hi");
        assert_int_equal(c->system.enable.n, 1);
        assert_string_equal(c->system.enable.items[0].value, "ssh.service");
        assert_value(&c->system.scripts.items[0], "true", "top.yaml", 14, "nothing");
        assert_value(&c->install.items[0], "vim", "top.yaml", 17, NULL);
        assert_int_equal(c->epoch, 1700000000);
        /* Sizes are parsed once, here. */
        assert_false(c->disk_auto_size);
        assert_int_equal(c->disk_bytes, 2ull << 30);
        assert_int_equal(c->n_partitions, 2);
        assert_int_equal(c->partitions[0].size_bytes, 64ull << 20);
        assert_false(c->partitions[0].auto_size);
        assert_true(c->partitions[1].auto_size);
        assert_int_equal(c->partitions[1].free_percent, 10);
        assert_value(&c->partitions[1].role, "root", "base.yaml", 14, NULL);
        profile_free(p);
}

static void test_lock_file(void **state) {
        (void)state;
        put("t.lock", "profile: t\narchitecture: amd64\npackages:\n"
                      "  - name: \"a\"\n    version: \"1\"\n    architecture: \"amd64\"\n"
                      "    sha256: \"00\"\n");
        put("bad.lock", "profile: t\npackages:\n  - name: a\n    version: 1\n");
        char *good = path_of("t.lock"), *bad = path_of("bad.lock"), *none = path_of("no.lock");
        ProfileLock l = {};
        Diagnostics diag = {};

        assert_int_equal(profile_lock_read(good, &l, &diag), 0);
        assert_int_equal(l.n_pins, 1);
        assert_string_equal(l.pins[0].name, "a");
        assert_string_equal(l.pins[0].sha256, "00");
        profile_lock_done(&l);
        assert_int_equal(profile_lock_read(bad, &l, &diag), -EBADMSG);
        assert_int_equal(diag.n_errors, 1);
        assert_non_null(strstr(diag.messages[0], "bad.lock:3:5: lock entry without architecture"));
        assert_int_equal(profile_lock_read(none, &l, &diag), -ENOENT);
        diag_done(&diag);
        free(good);
        free(bad);
        free(none);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_maps_merge_key_by_key, setup, teardown),
                cmocka_unit_test_setup_teardown(test_scalars_override_in_order, setup, teardown),
                cmocka_unit_test_setup_teardown(test_install_accumulates, setup, teardown),
                cmocka_unit_test_setup_teardown(test_remove_removes_inherited, setup, teardown),
                cmocka_unit_test_setup_teardown(test_lists_that_replace, setup, teardown),
                cmocka_unit_test_setup_teardown(test_other_accumulating_lists, setup, teardown),
                cmocka_unit_test_setup_teardown(test_diamond_applied_once, setup, teardown),
                cmocka_unit_test_setup_teardown(test_target_and_defaults, setup, teardown),
                cmocka_unit_test_setup_teardown(test_shorthands_and_booleans, setup, teardown),
                cmocka_unit_test_setup_teardown(test_shipped_profiles, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unknown_keys, setup, teardown),
                cmocka_unit_test_setup_teardown(test_wrong_types, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_sizes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing_required, setup, teardown),
                cmocka_unit_test_setup_teardown(test_duplicates, setup, teardown),
                cmocka_unit_test_setup_teardown(test_output_compression, setup, teardown),
                cmocka_unit_test_setup_teardown(test_extends_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_yaml_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_canonical, setup, teardown),
                cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
                cmocka_unit_test_setup_teardown(test_package_names_per_family, setup, teardown),
                cmocka_unit_test_setup_teardown(test_value_checks, setup, teardown),
                cmocka_unit_test_setup_teardown(test_layout_checks, setup, teardown),
                cmocka_unit_test_setup_teardown(test_all_errors_reported, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unreadable, setup, teardown),
                cmocka_unit_test_setup_teardown(test_typed_config, setup, teardown),
                cmocka_unit_test_setup_teardown(test_lock_file, setup, teardown),
                cmocka_unit_test(test_docs_cover_schema),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
