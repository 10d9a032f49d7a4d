/* SPDX-License-Identifier: MIT */
/* The lock file next to a profile (NAME.lock, written by `vmcompose lock`), read into its pins. */
#include "vmcompose/profile.h"

int profile_lock_read(const char *path, ProfileLock *ret, Diagnostics *diag) {
        _cleanup_free_ char *data = NULL;
        ProfileLock l = {};
        size_t size;
        int r = read_full_file(path, 64 << 20, &data, &size);
        if (r < 0)
                return r;
        const char *file = source_set_add(&l.sources, path);
        r = node_parse_yaml(file, data, size, diag, &l.tree);
        if (r < 0) {
                profile_lock_done(&l);
                return r;
        }
        const Node *pkgs = node_map_get(l.tree, "packages");
        if (!pkgs || pkgs->type != NODE_SEQ) {
                diag_add(diag, &(Mark){.file = file},
                         "not a vmcompose lock file (no packages list)");
                profile_lock_done(&l);
                return -EBADMSG;
        }
        l.pins = xcalloc(pkgs->n_items + 1, sizeof(ProfileLockPin));
        static const char *const keys[] = {"name", "version", "architecture", "sha256"};
        for (size_t i = 0; i < pkgs->n_items; i++) {
                const char *v[4];
                for (size_t k = 0; k < 4; k++) {
                        const Node *n = node_map_get(pkgs->items[i], keys[k]);
                        if (!n || n->type != NODE_SCALAR) {
                                diag_add(diag, &pkgs->items[i]->mark, "lock entry without %s",
                                         keys[k]);
                                profile_lock_done(&l);
                                return -EBADMSG;
                        }
                        v[k] = n->scalar;
                }
                l.pins[l.n_pins++] = (ProfileLockPin){v[0], v[1], v[2], v[3]};
        }
        *ret = l;
        return 0;
}

void profile_lock_done(ProfileLock *l) {
        free(l->pins);
        node_free(l->tree);
        source_set_done(&l->sources);
        *l = (ProfileLock){};
}
