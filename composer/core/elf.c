/* SPDX-License-Identifier: MIT */
/* A program's interpreter and needed libraries, from its program headers and dynamic section
 * (the way the kernel and ld.so find them): PT_INTERP, then DT_NEEDED offsets into DT_STRTAB,
 * whose address is mapped back to a file offset through the PT_LOAD segments. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmcompose/elf.h"
#include "vmcompose/util.h"

typedef struct ElfFile {
        const uint8_t *data;
        size_t size;
        const Elf64_Ehdr *eh;
} ElfFile;

static const Elf64_Phdr *phdr(const ElfFile *f, size_t i) {
        return (const Elf64_Phdr *)(f->data + f->eh->e_phoff + i * sizeof(Elf64_Phdr));
}

/* The file offset of the virtual address addr, inside a PT_LOAD's file bytes, or -1. */
static int64_t vaddr_offset(const ElfFile *f, uint64_t addr) {
        for (size_t i = 0; i < f->eh->e_phnum; i++) {
                const Elf64_Phdr *p = phdr(f, i);
                if (p->p_type == PT_LOAD && addr >= p->p_vaddr && addr - p->p_vaddr < p->p_filesz &&
                    p->p_offset <= f->size && addr - p->p_vaddr <= f->size - p->p_offset)
                        return (int64_t)(p->p_offset + (addr - p->p_vaddr));
        }
        return -1;
}

/* The NUL-terminated string at offset, or NULL when it runs past the file. */
static const char *string_at(const ElfFile *f, uint64_t offset) {
        if (offset >= f->size || !memchr(f->data + offset, 0, f->size - offset))
                return NULL;
        return (const char *)f->data + offset;
}

static int read_dynamic(const ElfFile *f, const Elf64_Phdr *dyn, char ***ret_needed) {
        if (dyn->p_offset > f->size || dyn->p_filesz > f->size - dyn->p_offset)
                return -EBADMSG;
        const Elf64_Dyn *d = (const Elf64_Dyn *)(f->data + dyn->p_offset);
        size_t n = dyn->p_filesz / sizeof(Elf64_Dyn);
        uint64_t strtab = 0;
        for (size_t i = 0; i < n && d[i].d_tag != DT_NULL; i++)
                if (d[i].d_tag == DT_STRTAB)
                        strtab = d[i].d_un.d_ptr;
        int64_t str_off = strtab ? vaddr_offset(f, strtab) : -1;
        _cleanup_strv_free_ char **needed = NULL;
        for (size_t i = 0; i < n && d[i].d_tag != DT_NULL; i++) {
                if (d[i].d_tag != DT_NEEDED)
                        continue;
                const char *name = str_off < 0 ? NULL : string_at(f, str_off + d[i].d_un.d_val);
                if (!name || !*name)
                        return -EBADMSG;
                strv_extend(&needed, name);
        }
        *ret_needed = TAKE_PTR(needed);
        return 0;
}

static int parse(const ElfFile *f, int machine, char **ret_interp, char ***ret_needed) {
        const Elf64_Ehdr *eh = f->eh;
        if (f->size < sizeof(Elf64_Ehdr) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
            eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
            eh->e_machine != machine || (eh->e_type != ET_EXEC && eh->e_type != ET_DYN))
                return -ENOEXEC;
        if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phoff > f->size ||
            (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > f->size - eh->e_phoff)
                return -EBADMSG;
        _cleanup_free_ char *interp = NULL;
        _cleanup_strv_free_ char **needed = NULL;
        for (size_t i = 0; i < eh->e_phnum; i++) {
                const Elf64_Phdr *p = phdr(f, i);
                if (p->p_type == PT_INTERP) {
                        const char *s = string_at(f, p->p_offset);
                        if (!s || !*s || interp)
                                return -EBADMSG;
                        interp = xstrdup(s);
                } else if (p->p_type == PT_DYNAMIC && !needed) {
                        int r = read_dynamic(f, p, &needed);
                        if (r < 0)
                                return r;
                }
        }
        *ret_interp = TAKE_PTR(interp);
        *ret_needed = TAKE_PTR(needed);
        return 0;
}

int elf_dynamic_info(const char *path, int machine, char **ret_interp, char ***ret_needed) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < sizeof(Elf64_Ehdr))
                return -ENOEXEC;
        void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED)
                return -errno;
        ElfFile f = {.data = map, .size = (size_t)st.st_size, .eh = map};
        char *interp = NULL, **needed = NULL;
        int r = parse(&f, machine, &interp, &needed);
        munmap(map, (size_t)st.st_size);
        if (r < 0)
                return r;
        *ret_interp = interp;
        *ret_needed = needed;
        return 0;
}

int elf_set_interp(int fd, const char *interp) {
        Elf64_Ehdr eh;
        if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh))
                return -ENOEXEC;
        if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
            eh.e_phentsize != sizeof(Elf64_Phdr))
                return -ENOEXEC;
        for (size_t i = 0; i < eh.e_phnum; i++) {
                Elf64_Phdr p;
                if (pread(fd, &p, sizeof(p), (off_t)(eh.e_phoff + i * sizeof(p))) !=
                    (ssize_t)sizeof(p))
                        return -EBADMSG;
                if (p.p_type != PT_INTERP)
                        continue;
                size_t len = strlen(interp);
                if (len + 1 > p.p_filesz || p.p_filesz > 4096)
                        return -ENOSPC;
                _cleanup_free_ char *buf = xcalloc(1, p.p_filesz);
                memcpy(buf, interp, len);
                if (pwrite(fd, buf, p.p_filesz, (off_t)p.p_offset) != (ssize_t)p.p_filesz)
                        return -errno;
                return 0;
        }
        return -ENOENT;
}
