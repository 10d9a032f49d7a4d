/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "vmcompose/bootloader.h"
#include "vmcompose/boottest.h"
#include "vmcompose/log.h"
#include "vmcompose/rootfs.h"
#include "vmcompose/signals.h"
#include "vmcompose/spawn.h"
#include "vmcompose/sparse.h"

void boot_kernel_done(BootKernel *k) {
        free(k->version);
        free(k->vmlinuz);
        free(k->initrd);
        *k = (BootKernel){};
}

int boot_kernel_find(int root_fd, bool need_initrd, BootKernel *ret) {
        int fd = root_open(root_fd, "boot", O_RDONLY | O_DIRECTORY, 0);
        if (fd < 0)
                return fd;
        DIR *d = fdopendir(fd);
        char *version = NULL;
        int r = 0;

        if (!d) {
                r = -errno;
                close(fd);
                return r;
        }
        for (struct dirent *de; (de = readdir(d));) {
                if (!strneq(de->d_name, "vmlinuz-", 8))
                        continue;
                if (version) {
                        r = -ENOTUNIQ;
                        break;
                }
                version = xstrdup(de->d_name + 8);
        }
        closedir(d);
        if (r < 0 || !version) {
                free(version);
                return r < 0 ? r : -ENOENT;
        }
        BootKernel k = {
                .version = version,
                .vmlinuz = xasprintf("boot/vmlinuz-%s", version),
                .initrd = xasprintf("boot/initrd.img-%s", version),
        };
        _cleanup_close_ int initrd = need_initrd ? root_open(root_fd, k.initrd, O_PATH, 0) : -1;
        if (need_initrd && initrd < 0) {
                boot_kernel_done(&k);
                return initrd;
        }
        *ret = k;
        return 0;
}

/* Copies from (in the root) to the directory dir of the tree to_fd (the ESP, the work
 * directory), made as needed. */
static int copy_into(int from_fd, const char *from, int to_fd, const char *dir, const char *name) {
        _cleanup_free_ char *to = path_join(dir, name);
        int r = root_mkdir_p(to_fd, dir, 0755);
        return r < 0 ? r : root_copy_file(from_fd, from, to_fd, to, 0644);
}

static int write_text(int tree_fd, const char *path, const char *text) {
        return root_write_file(tree_fd, path, text, strlen(text), 0644, ROOT_WRITE_MKDIR);
}

/* Logs what a boot data file's rendering put in diag (file and line). Returns r. */
static int log_data_error(int r, Diagnostics *diag) {
        for (size_t i = 0; i < diag->n_errors; i++)
                log_error("bootloader: %s", diag->messages[i]);
        diag_done(diag);
        return r;
}

/* The entry of p's kernel, the kernel and initramfs at linux_path and initrd_path. */
static BootEntry boot_entry(const BootParams *p, const char *linux_path, const char *initrd_path) {
        return (BootEntry){
                .title = p->title,
                .version = p->kernel->version,
                .linux_path = linux_path,
                .initrd_path = initrd_path,
                .options = p->cmdline,
                .root_fs_uuid = p->root_fs_uuid,
        };
}

/* GRUB's configuration, which reads the kernel from the root filesystem's /boot. */
static int make_grub_cfg(const BootParams *p, char **ret) {
        _cleanup_free_ char *linux_path = xasprintf("/%s", p->kernel->vmlinuz);
        _cleanup_free_ char *initrd_path = xasprintf("/%s", p->kernel->initrd);
        BootEntry e = boot_entry(p, linux_path, initrd_path);
        Diagnostics diag = {};
        int r = grub_cfg(p->data_dir, &e, ret, &diag);
        return r < 0 ? log_data_error(r, &diag) : 0;
}

/* Whether the root has the file path (resolved inside it); errno set when not. */
static bool in_root(const BootParams *p, const char *path) {
        _cleanup_close_ int fd = root_open(p->root_fd, path, O_PATH, 0);
        if (fd < 0)
                errno = -fd;
        return fd >= 0;
}

/* systemd-boot as the removable-media loader, with one BLS entry; the kernel and initramfs
 * sit on the ESP next to it. */
static int prepare_systemd_boot(const BootParams *p) {
        _cleanup_free_ char *efi =
                xasprintf("usr/lib/systemd/boot/efi/systemd-boot%s.efi", p->arch->efi_suffix);
        _cleanup_free_ char *kdir = xasprintf("vmcompose/%s", p->kernel->version);
        int r;

        if (!in_root(p, efi))
                return log_error_errno(errno,
                                       "bootloader: %s/%s is missing (is systemd-boot-efi "
                                       "installed?): %m",
                                       p->root_dir, efi);
        if ((r = root_mkdir_p(p->esp_fd, "EFI/BOOT", 0755)) < 0 ||
            (r = root_mkdir_p(p->esp_fd, "loader/entries", 0755)) < 0 ||
            (r = root_mkdir_p(p->esp_fd, kdir, 0755)) < 0)
                return log_error_errno(r, "bootloader: cannot lay out the ESP: %m");
        r = copy_into(p->root_fd, efi, p->esp_fd, "EFI/BOOT", p->arch->efi_boot);
        if (r == 0)
                r = copy_into(p->root_fd, p->kernel->vmlinuz, p->esp_fd, kdir, "linux");
        if (r == 0)
                r = copy_into(p->root_fd, p->kernel->initrd, p->esp_fd, kdir, "initrd");
        if (r < 0)
                return log_error_errno(r, "bootloader: cannot copy the boot files: %m");

        _cleanup_free_ char *linux_path = xasprintf("/%s/linux", kdir);
        _cleanup_free_ char *initrd_path = xasprintf("/%s/initrd", kdir);
        _cleanup_free_ char *entry = NULL, *conf = NULL;
        BootEntry e = boot_entry(p, linux_path, initrd_path);
        Diagnostics diag = {};
        if ((r = bls_entry(p->data_dir, &e, &entry, &diag)) < 0 ||
            (r = loader_conf(p->data_dir, "vmcompose.conf", &conf, &diag)) < 0)
                return log_data_error(r, &diag);
        r = write_text(p->esp_fd, "loader/entries/vmcompose.conf", entry);
        if (r == 0)
                r = write_text(p->esp_fd, "loader/loader.conf", conf);
        return r;
}

void shim_files_done(ShimFiles *f) {
        free(f->shim);
        free(f->grub);
        free(f->mok_manager);
        strv_free(f->grub_cfg);
        *f = (ShimFiles){};
}

/* UEFI Secure Boot with the distribution's signed chain (../shared/PLATFORMS.md): the
 * Microsoft-signed shim as the removable-media loader, the distribution's signed GRUB (and
 * MokManager) next to it, taken from where the family's packages put them, and GRUB's
 * configuration where that GRUB looks (p->shim, from bootloader/distro/FAMILY.yaml: EFI/VENDOR,
 * its prefix; Fedora's GRUB first reads the one beside itself). GRUB reads the signed kernel from
 * the root filesystem and has shim verify it. */
static int prepare_shim(const BootParams *p) {
        const char *sfx = p->arch->efi_suffix;
        _cleanup_free_ char *grub = xasprintf("grub%s.efi", sfx);
        _cleanup_free_ char *mm = xasprintf("mm%s.efi", sfx);
        const ShimFiles *sf = p->shim;
        int r;

        if (!sf)
                return log_error_errno(EINVAL, "bootloader: shim needs the family's shim files");
        const struct {
                const char *from, *dir, *name;
        } files[] = {
                {sf->shim, "EFI/BOOT", p->arch->efi_boot},
                {sf->grub, "EFI/BOOT", grub},
                {sf->mok_manager, "EFI/BOOT", mm},
        };
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                const char *from = files[i].from;
                if (!from)
                        continue;
                if (!in_root(p, from)) {
                        if (i == 2)
                                continue; /* MokManager is optional */
                        return log_error_errno(errno,
                                               "bootloader: %s/%s is missing (are the shim boot "
                                               "loader's packages installed?): %m",
                                               p->root_dir, from);
                }
                if ((r = copy_into(p->root_fd, from, p->esp_fd, files[i].dir, files[i].name)) < 0)
                        return log_error_errno(r, "bootloader: cannot copy %s/%s: %m", p->root_dir,
                                               from);
        }
        if (!p->root_fs_uuid)
                return log_error_errno(EINVAL, "bootloader: shim needs a root filesystem");
        _cleanup_free_ char *cfg = NULL;
        if ((r = make_grub_cfg(p, &cfg)) < 0)
                return r;
        for (char **path = sf->grub_cfg; path && *path; path++)
                if ((r = write_text(p->esp_fd, *path, cfg)) < 0)
                        return log_error_errno(r, "bootloader: cannot write %s: %m", *path);
        return 0;
}

/* GRUB for BIOS: core.img made by grub-mkimage inside the root (its own GRUB), the
 * configuration in the root filesystem's /boot/grub, and, once the disk exists, boot.img in
 * the first sector and core.img in the MBR gap or the bios-boot partition, which vmcompose
 * writes itself (what grub-bios-setup does, without a device). */
#define GRUB_BOOT_KERNEL_SECTOR 0x5c     /* boot.img: the LBA of core.img's first sector */
#define GRUB_BOOT_DRIVE 0x64             /* 0xff: the drive the BIOS booted from */
#define GRUB_BOOT_DRIVE_CHECK 0x66       /* a jump that some BIOSes need patched to nops */
#define GRUB_BLOCKLIST_OFFSET (512 - 12) /* diskboot.img: {start u64, len u16, segment u16} */

void grub_patch_boot_sector(uint8_t boot[512], const uint8_t mbr[512], uint64_t core_sector) {
        for (int i = 0; i < 8; i++)
                boot[GRUB_BOOT_KERNEL_SECTOR + i] = (uint8_t)(core_sector >> (8 * i));
        boot[GRUB_BOOT_DRIVE] = 0xff;
        /* "boot drive check": nops, so a BIOS that passes a floppy number still boots. */
        boot[GRUB_BOOT_DRIVE_CHECK] = 0x90;
        boot[GRUB_BOOT_DRIVE_CHECK + 1] = 0x90;
        memcpy(boot + 440, mbr + 440, 512 - 440);
}

void grub_patch_core(uint8_t *core, size_t size, uint64_t core_sector) {
        uint64_t start = core_sector + 1;
        uint16_t len = (uint16_t)((size + 511) / 512 - 1);
        uint8_t *b = core + GRUB_BLOCKLIST_OFFSET;
        for (int i = 0; i < 8; i++)
                b[i] = (uint8_t)(start >> (8 * i));
        b[8] = (uint8_t)len;
        b[9] = (uint8_t)(len >> 8);
}

/* Makes a GRUB image with grub-mkimage inside the root (its GRUB and modules) whose early
 * configuration finds the root filesystem by UUID, and writes /boot/grub/grub.cfg there.
 * The image is kept as work_dir/image_name. */
static int make_grub(const BootParams *p, const char *format, const char *const *modules,
                     const char *image_name) {
        static const char in_root[] = "tmp/vmcompose-grub";
        _cleanup_strv_free_ char **argv = NULL;
        int r;

        if (!p->root_fs_uuid)
                return log_error_errno(EINVAL, "bootloader: GRUB needs a root filesystem");
        _cleanup_free_ char *early_text = NULL, *cfg = NULL;
        Diagnostics diag = {};
        if ((r = grub_early_cfg(p->data_dir, p->root_fs_uuid, &early_text, &diag)) < 0)
                return log_data_error(r, &diag);
        if ((r = make_grub_cfg(p, &cfg)) < 0)
                return r;
        r = write_text(p->root_fd, "tmp/vmcompose-grub/early.cfg", early_text);
        if (r < 0)
                return r;
        static const char *const head[] = {"chroot",
                                           NULL,
                                           "grub-mkimage",
                                           "-O",
                                           NULL,
                                           "-o",
                                           "/tmp/vmcompose-grub/image",
                                           "-c",
                                           "/tmp/vmcompose-grub/early.cfg",
                                           "-p",
                                           "/boot/grub"};
        for (size_t i = 0; i < ELEMENTSOF(head); i++)
                strv_extend(&argv, i == 1 ? p->root_dir : i == 4 ? format : head[i]);
        for (const char *const *m = modules; *m; m++)
                strv_extend(&argv, *m);
        Buffer out = {};
        r = spawn_run_in_root(argv, NULL, &out);
        if (r != 0) {
                log_error("bootloader: grub-mkimage -O %s failed:\n%s", format,
                          out.data ? out.data : "");
                buffer_done(&out);
                (void)root_rm_rf(p->root_fd, in_root);
                return -EIO;
        }
        buffer_done(&out);
        r = copy_into(p->root_fd, "tmp/vmcompose-grub/image", p->work_fd, ".", image_name);
        (void)root_rm_rf(p->root_fd, in_root);
        if (r < 0)
                return log_error_errno(r, "bootloader: cannot keep GRUB's image: %m");
        if ((r = write_text(p->root_fd, "boot/grub/grub.cfg", cfg)) < 0)
                return log_error_errno(r, "bootloader: cannot write /boot/grub/grub.cfg: %m");
        return 0;
}

static int prepare_grub_bios(const BootParams *p) {
        static const char *const modules[] = {
                "biosdisk",       "part_msdos", "part_gpt", "ext2",       "search",
                "search_fs_uuid", "normal",     "linux",    "configfile", "serial",
                "terminal",       "echo",       "test",     NULL};
        int r = make_grub(p, "i386-pc", modules, "core.img");
        if (r == 0)
                r = copy_into(p->root_fd, "usr/lib/grub/i386-pc/boot.img", p->work_fd, ".",
                              "boot.img");
        return r < 0 ? log_error_errno(r, "bootloader: cannot keep GRUB's boot.img: %m") : 0;
}

/* GRUB for plain UEFI (no Secure Boot): a GRUB EFI image as the removable-media loader. */
static int prepare_grub_efi(const BootParams *p) {
        static const char *const modules[] = {
                "part_gpt",       "part_msdos", "fat",   "ext2",       "search",
                "search_fs_uuid", "normal",     "linux", "configfile", "serial",
                "terminal",       "echo",       "test",  NULL};
        _cleanup_free_ char *image = xasprintf("grub%s.efi", p->arch->efi_suffix);
        int r = make_grub(p, p->arch->grub_efi_platform, modules, image);
        if (r == 0)
                r = copy_into(p->work_fd, image, p->esp_fd, "EFI/BOOT", p->arch->efi_boot);
        return r < 0 ? log_error_errno(r, "bootloader: cannot install GRUB on the ESP: %m") : 0;
}

static int embed_grub_bios(const char *work_dir, const char *disk_path, uint64_t core_sector,
                           uint64_t room) {
        _cleanup_free_ char *core_path = path_join(work_dir, "core.img");
        _cleanup_free_ char *boot_path = path_join(work_dir, "boot.img");
        _cleanup_free_ char *core = NULL, *boot = NULL;
        size_t core_size, boot_size;
        uint8_t mbr[512];
        int r;

        r = read_full_file(core_path, 1 << 20, &core, &core_size);
        if (r == 0)
                r = read_full_file(boot_path, 4096, &boot, &boot_size);
        if (r < 0)
                return log_error_errno(r, "bootloader: GRUB's images are missing: %m");
        if (boot_size != 512 || core_size < 512)
                return log_error_errno(EBADMSG, "bootloader: unexpected GRUB image sizes");
        if ((core_size + 511) / 512 > room)
                return log_error_errno(ENOSPC,
                                       "bootloader: core.img (%zu bytes) does not fit in "
                                       "the %llu sectors before the first partition",
                                       core_size, (unsigned long long)room);
        _cleanup_close_ int fd = open(disk_path, O_RDWR | O_CLOEXEC);
        if (fd < 0 || (r = pread_all(fd, mbr, sizeof(mbr), 0)) < 0)
                return log_error_errno(fd < 0 ? errno : -r, "bootloader: %s: %m", disk_path);
        core = xrealloc(core, (core_size + 511) / 512 * 512);
        memset(core + core_size, 0, (core_size + 511) / 512 * 512 - core_size);
        core_size = (core_size + 511) / 512 * 512;
        grub_patch_core((uint8_t *)core, core_size, core_sector);
        grub_patch_boot_sector((uint8_t *)boot, mbr, core_sector);
        r = pwrite_all(fd, core, core_size, core_sector * 512);
        if (r == 0)
                r = pwrite_all(fd, boot, 512, 0);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        return r < 0 ? log_error_errno(r, "bootloader: cannot write GRUB's boot code: %m") : 0;
}

/* A Unified Kernel Image: systemd's EFI stub with the kernel, initramfs, command line and
 * os-release as PE sections (objcopy, as systemd 252 documents for building one by hand),
 * installed as the removable-media loader and under /EFI/Linux for systemd-boot. */
/* objcopy stamps the UKI's PE header with the clock's time: source-date-epoch's instead. */
static int stamp_uki(int work_fd, uint64_t timestamp) {
        _cleanup_free_ char *data = NULL;
        size_t size;
        int r = root_read_file(work_fd, "uki.efi", SIZE_MAX, &data, &size);
        if (r < 0)
                return r;
        r = pe_set_timestamp((uint8_t *)data, size, (uint32_t)MIN(timestamp, UINT32_MAX));
        if (r < 0)
                return r;
        return root_write_file(work_fd, "uki.efi", data, size, 0644, 0);
}

static int prepare_uki(const BootParams *p) {
        _cleanup_free_ char *stub =
                xasprintf("usr/lib/systemd/boot/efi/linux%s.efi.stub", p->arch->efi_suffix);
        /* objcopy reads what it puts together by name, outside any root: copies of the
         * root's files in the work directory (ours), not the root's paths. */
        static const char *const parts[] = {"stub.efi", "os-release", "linux", "initrd"};
        /* os-release(5): /etc/os-release, else /usr/lib/os-release (Debian's and Fedora's
         * /etc/os-release is a link to the other). */
        const char *osrel = in_root(p, "etc/os-release") ? "etc/os-release" : "usr/lib/os-release";
        const char *from[] = {stub, osrel, p->kernel->vmlinuz, p->kernel->initrd};
        int r;

        if (!in_root(p, stub))
                return log_error_errno(errno,
                                       "bootloader: %s/%s is missing (systemd-boot-efi "
                                       "installed?): %m",
                                       p->root_dir, stub);
        for (size_t i = 0; i < ELEMENTSOF(parts); i++)
                if ((r = copy_into(p->root_fd, from[i], p->work_fd, ".", parts[i])) < 0)
                        return log_error_errno(r, "bootloader: cannot read %s/%s: %m", p->root_dir,
                                               from[i]);
        r = root_write_file(p->work_fd, "cmdline.txt", p->cmdline, strlen(p->cmdline), 0644, 0);
        if (r < 0)
                return r;
        const char *work = p->work_dir;
        _cleanup_free_ char *s_osrel = xasprintf(".osrel=%s/os-release", work);
        _cleanup_free_ char *s_cmdline = xasprintf(".cmdline=%s/cmdline.txt", work);
        _cleanup_free_ char *s_linux = xasprintf(".linux=%s/linux", work);
        _cleanup_free_ char *s_initrd = xasprintf(".initrd=%s/initrd", work);
        _cleanup_free_ char *s_stub = xasprintf("%s/stub.efi", work);
        _cleanup_free_ char *uki = xasprintf("%s/uki.efi", work);
        char *const argv[] = {(char *)"objcopy",
                              (char *)"--add-section",
                              s_osrel,
                              (char *)"--change-section-vma",
                              (char *)".osrel=0x20000",
                              (char *)"--add-section",
                              s_cmdline,
                              (char *)"--change-section-vma",
                              (char *)".cmdline=0x30000",
                              (char *)"--add-section",
                              s_linux,
                              (char *)"--change-section-vma",
                              (char *)".linux=0x2000000",
                              (char *)"--add-section",
                              s_initrd,
                              (char *)"--change-section-vma",
                              (char *)".initrd=0x3000000",
                              s_stub,
                              uki,
                              NULL};
        Buffer out = {};
        r = spawn_run(argv, NULL, &out);
        for (size_t i = 0; i < ELEMENTSOF(parts); i++)
                (void)unlinkat(p->work_fd, parts[i], 0);
        if (r != 0) {
                log_error("bootloader: objcopy could not make the UKI:\n%s",
                          out.data ? out.data : "");
                buffer_done(&out);
                return -EIO;
        }
        buffer_done(&out);
        if (p->timestamp > 0 && (r = stamp_uki(p->work_fd, p->timestamp)) < 0)
                return log_error_errno(r, "bootloader: cannot set the UKI's time: %m");
        _cleanup_free_ char *name = xasprintf("vmcompose-%s.efi", p->kernel->version);
        if ((r = copy_into(p->work_fd, "uki.efi", p->esp_fd, "EFI/BOOT", p->arch->efi_boot)) < 0 ||
            (r = copy_into(p->work_fd, "uki.efi", p->esp_fd, "EFI/Linux", name)) < 0)
                return log_error_errno(r, "bootloader: cannot install the UKI: %m");
        return 0;
}

static const Bootloader bootloaders[] = {
        {"systemd-boot", BOOT_TEXT_BLS_ENTRY | BOOT_TEXT_LOADER_CONF, prepare_systemd_boot, NULL,
         true, false},
        {"shim", BOOT_TEXT_GRUB_CFG, prepare_shim, NULL, false, true},
        {"grub-bios", BOOT_TEXT_GRUB_CFG | BOOT_TEXT_GRUB_EARLY, prepare_grub_bios, embed_grub_bios,
         false, false},
        {"uki", 0, prepare_uki, NULL, true, false},
        {"grub-efi", BOOT_TEXT_GRUB_CFG | BOOT_TEXT_GRUB_EARLY, prepare_grub_efi, NULL, false,
         false},
};

int bootloader_grub_hook_cfg(const Bootloader *b, const BootParams *p, const char *esp_mount,
                             char **ret_text, char **ret_path) {
        BootEntry e = boot_entry(p, "@LINUX@", "@INITRD@");
        e.version = "@VERSION@";
        Diagnostics diag = {};
        char *text = NULL;
        int r = grub_cfg(p->data_dir, &e, &text, &diag);
        if (r < 0)
                return log_data_error(r, &diag);
        if (b->uses_shim_files && !(p->shim && p->shim->grub_cfg && p->shim->grub_cfg[0])) {
                free(text);
                return log_error_errno(EINVAL, "bootloader: %s needs where grub.cfg goes", b->name);
        }
        Buffer paths = {};
        if (!b->uses_shim_files)
                buffer_puts(&paths, "/boot/grub/grub.cfg");
        for (char **c = b->uses_shim_files ? p->shim->grub_cfg : NULL; c && *c; c++)
                buffer_printf(&paths, "%s%s/%s", paths.len ? " " : "", esp_mount, *c);
        *ret_path = paths.data;
        *ret_text = text;
        return 0;
}

const Bootloader *bootloader_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(bootloaders); i++)
                if (streq(bootloaders[i].name, name))
                        return &bootloaders[i];
        return NULL;
}
