/* SPDX-License-Identifier: MIT */
/* Fuzz target for what `vmcompose diff` reads out of an image: the FAT reader over the input as
 * a volume, the ext4 open-and-walk path (libext2fs, then our walk) and the qcow2 and VHDX readers
 * over the input written to a memfd, and dpkg's status and .list texts. Built with
 * -fsanitize=fuzzer by `make fuzz`; otherwise replay.c replays the corpus. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vmcompose/diff.h"
#include "vmcompose/sparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct Mem {
        const uint8_t *data;
        size_t size;
} Mem;

static int mem_read(void *userdata, void *buf, size_t n, uint64_t offset) {
        const Mem *m = userdata;
        if (offset > m->size || n > m->size - offset)
                return -EIO;
        memcpy(buf, m->data + offset, n);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        DiffTree t;
        char *err = NULL;

        if (size > (4u << 20))
                return 0;
        Mem m = {data, size};
        DiffReader r = {mem_read, &m, size};
        if (diff_fat_read(&r, &t, &err) == 0)
                diff_tree_done(&t);
        free(err);
        err = NULL;

        int fd = memfd_create("fuzz-diff", MFD_CLOEXEC);
        if (fd >= 0) {
                char path[64];
                snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
                if (write(fd, data, size) == (ssize_t)size &&
                    diff_ext4_read(path, 0, size, &t, &err) == 0)
                        diff_tree_done(&t);
                free(err);
                err = NULL;
                int out = memfd_create("fuzz-diff-raw", MFD_CLOEXEC);
                uint64_t virtual_size;
                if (out >= 0) {
                        (void)diff_qcow2_to_raw(fd, size, out, &virtual_size, &err);
                        free(err);
                        err = NULL;
                        (void)ftruncate(out, 0);
                        (void)diff_vhdx_to_raw(fd, size, out, &virtual_size, &err);
                        free(err);
                        err = NULL;
                        close(out);
                }
                close(fd);
        }

        DiffPackages p;
        if (diff_packages_parse(distro_find("debian"), (const char *)data, size, &p, &err) == 0)
                diff_packages_done(&p);
        free(err);
        DiffOwners o = {};
        diff_owners_add_list(&o, "fuzz", (const char *)data, size);
        diff_owners_sort(&o);
        (void)diff_owners_find(&o, "/etc/motd");
        diff_owners_done(&o);
        return 0;
}
