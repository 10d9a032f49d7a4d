/* SPDX-License-Identifier: MIT */
/* RPM package verification before install, the way dnf5 and tdnf do it, but with a keyring
 * that holds the repository's key only (never the host's or the root's rpmdb keys): the
 * header's signature and digests with rpmReadPackageFile(), then the payload against the
 * digest the signed header carries, and each path the package would write. */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <rpm/header.h>
#include <rpm/rpmcrypto.h>
#include <rpm/rpmio.h>
#include <rpm/rpmkeyring.h>
#include <rpm/rpmlib.h>
#include <rpm/rpmlog.h>
#include <rpm/rpmmacro.h>
#include <rpm/rpmpgp.h>
#include <rpm/rpmts.h>

#include "rpm-install.h"

/* librpm's messages, kept for the error we return instead of printed on stderr. */
static Buffer rpm_messages;

static int log_callback(rpmlogRec rec, rpmlogCallbackData data) {
        (void)data;
        if (rpmlogRecPriority(rec) <= RPMLOG_WARNING)
                buffer_puts(&rpm_messages, rpmlogRecMessage(rec));
        return 0; /* not printed */
}

static int init_result = -EIO;

static void init_once(void) {
        rpmlogSetCallback(log_callback, NULL);
        if (rpmReadConfigFiles(NULL, NULL) != 0)
                return;
        /* Where rpm on Fedora keeps it (Debian's rpm: ~/.rpmdb). */
        rpmPushMacro(NULL, "_dbpath", NULL, RPM_DBPATH, RMIL_CMDLINE);
        init_result = 0;
}

int rpm_lib_init(void) {
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, init_once);
        return init_result;
}

/* librpm's messages since the last call (trailing newline dropped), "" for none. */
static char *take_messages(void) {
        char *m = buffer_steal(&rpm_messages);
        size_t l = strlen(m);
        while (l > 0 && m[l - 1] == '\n')
                m[--l] = 0;
        return m;
}

static rpmts verify_ts(const char *key_path, char **ret_error) {
        rpmts ts = rpmtsCreate();
        rpmKeyring ring = rpmKeyringNew();
        if (key_path) {
                rpmPubkey key = rpmPubkeyRead(key_path);
                if (!key) {
                        _cleanup_free_ char *m = take_messages();
                        *ret_error = xasprintf("cannot read the repository key %s%s%s", key_path,
                                               *m ? ": " : "", m);
                        rpmKeyringFree(ring);
                        rpmtsFree(ts);
                        return NULL;
                }
                rpmKeyringAddKey(ring, key);
                int n_sub = 0;
                rpmPubkey *subs = rpmGetSubkeys(key, &n_sub);
                for (int i = 0; i < n_sub; i++) {
                        rpmKeyringAddKey(ring, subs[i]);
                        rpmPubkeyFree(subs[i]);
                }
                free(subs);
                rpmPubkeyFree(key);
        }
        /* Set before anything is read: the ts never loads a keyring of its own. */
        rpmtsSetKeyring(ts, ring);
        rpmKeyringFree(ring);
        /* gpgcheck: false: a signature is not checked (no key to check it with), the digests
         * are. */
        rpmtsSetVSFlags(ts, key_path ? 0 : RPMVSF_MASK_NOSIGNATURES);
        rpmtsSetVfyLevel(ts, key_path ? RPMSIG_SIGNATURE_TYPE | RPMSIG_DIGEST_TYPE
                                      : RPMSIG_DIGEST_TYPE);
        return ts;
}

/* The payload from fd's position to the end against the header's RPMTAG_PAYLOADDIGEST. */
static int check_payload(FD_t fd, Header h, char **ret_error) {
        const char *want = NULL;
        struct rpmtd_s td;
        if (headerGet(h, RPMTAG_PAYLOADDIGEST, &td, HEADERGET_MINMEM))
                want = rpmtdNextString(&td);
        uint32_t algo = headerGetNumber(h, RPMTAG_PAYLOADDIGESTALGO);
        if (!want || algo == 0) {
                rpmtdFreeData(&td);
                *ret_error = xstrdup("its header carries no payload digest (rpm older than "
                                     "4.14), so its payload cannot be checked");
                return -EBADMSG;
        }
        DIGEST_CTX ctx = rpmDigestInit((int)algo, RPMDIGEST_NONE);
        if (!ctx) {
                rpmtdFreeData(&td);
                *ret_error = xasprintf("unknown payload digest algorithm %u", algo);
                return -EBADMSG;
        }
        char buf[1 << 16];
        ssize_t k;
        while ((k = Fread(buf, 1, sizeof(buf), fd)) > 0)
                rpmDigestUpdate(ctx, buf, (size_t)k);
        char *got = NULL;
        rpmDigestFinal(ctx, (void **)&got, NULL, 1);
        int r = 0;
        if (k < 0 || Ferror(fd)) {
                *ret_error = xstrdup("cannot read its payload");
                r = -EIO;
        } else if (!got || strcasecmp(got, want) != 0) {
                *ret_error = xasprintf("its payload does not match the signed header's digest "
                                       "(%s, expected %s): changed after signing",
                                       got ? got : "?", want);
                r = -EBADMSG;
        }
        free(got);
        rpmtdFreeData(&td);
        return r;
}

/* Whether the package carries an OpenPGP signature (of the header, or of header and payload,
 * which rpmReadPackageFile() merges into the header it returns). */
static bool signed_header(Header h) {
        static const rpmTagVal tags[] = {RPMTAG_RSAHEADER, RPMTAG_DSAHEADER, RPMTAG_SIGPGP,
                                         RPMTAG_SIGGPG};
        for (size_t i = 0; i < ELEMENTSOF(tags); i++)
                if (headerIsEntry(h, tags[i]))
                        return true;
        return false;
}

int rpm_verify_package(const char *path, const char *key_path, char **ret_error) {
        _cleanup_free_ char *error = NULL;
        int r = rpm_lib_init();
        if (r < 0) {
                *ret_error = xstrdup("cannot read librpm's configuration");
                return r;
        }
        free(take_messages());
        rpmts ts = verify_ts(key_path, &error);
        if (!ts) {
                *ret_error = xasprintf("%s: %s", path, error);
                return -ENOKEY;
        }
        FD_t fd = Fopen(path, "r.ufdio");
        if (!fd || Ferror(fd)) {
                r = -errno ?: -EIO;
                *ret_error = xasprintf("%s: cannot open: %s", path, fd ? Fstrerror(fd) : "");
                if (fd)
                        Fclose(fd);
                rpmtsFree(ts);
                return r;
        }
        Header h = NULL;
        rpmRC rc = rpmReadPackageFile(ts, fd, path, &h);
        _cleanup_free_ char *m = take_messages();
        switch (rc) {
        case RPMRC_OK:
                /* rpmReadPackageFile() is content with a package that has no signature at
                 * all: a signature is required here. */
                if (key_path && !signed_header(h)) {
                        r = -EBADMSG;
                        error = xasprintf("unsigned, and the repository requires packages "
                                          "signed by %s",
                                          key_path);
                } else
                        r = check_payload(fd, h, &error);
                break;
        case RPMRC_NOKEY:
        case RPMRC_NOTTRUSTED:
                r = -EBADMSG;
                error = xasprintf("not signed by the repository's key %s%s%s", key_path,
                                  *m ? ": " : "", m);
                break;
        case RPMRC_NOTFOUND:
                r = -EBADMSG;
                error = xasprintf("not an RPM package%s%s", *m ? ": " : "", m);
                break;
        default:
                r = -EBADMSG;
                error = xasprintf("signature or digest check failed%s%s", *m ? ": " : "", m);
                break;
        }
        if (r < 0) {
                _cleanup_free_ char *nevra = h ? headerGetAsString(h, RPMTAG_NEVRA) : NULL;
                *ret_error = nevra ? xasprintf("%s (%s): %s", nevra, path, error)
                                   : xasprintf("%s: %s", path, error);
        }
        headerFree(h);
        Fclose(fd);
        rpmtsFree(ts);
        return r;
}

bool rpm_root_is(const char *have, const char *root) {
        size_t l = strlen(root);
        return have && root[0] == '/' && l > 1 && strneq(have, root, l) &&
               (have[l] == 0 || (have[l] == '/' && have[l + 1] == 0));
}

bool rpm_file_path_ok(const char *path) {
        if (!path || path[0] != '/')
                return false;
        if (path[1] == 0)
                return true;
        for (const char *c = path + 1;;) {
                const char *end = strchrnul(c, '/');
                size_t l = (size_t)(end - c);
                if (l == 0 || (l == 1 && c[0] == '.') || (l == 2 && c[0] == '.' && c[1] == '.'))
                        return false;
                if (!*end)
                        return true;
                c = end + 1;
        }
}

int rpm_check_file_list(const char *path, char ***files, char **ret_error) {
        int r = rpm_lib_init();
        if (r < 0)
                return r;
        FD_t fd = Fopen(path, "r.ufdio");
        if (!fd || Ferror(fd)) {
                if (fd)
                        Fclose(fd);
                *ret_error = xasprintf("%s: cannot open", path);
                return -EIO;
        }
        /* Read only: the signature was checked by rpm_verify_package(). */
        rpmts ts = rpmtsCreate();
        rpmtsSetVSFlags(ts, RPMVSF_MASK_NOSIGNATURES | RPMVSF_MASK_NODIGESTS);
        Header h = NULL;
        rpmRC rc = rpmReadPackageFile(ts, fd, path, &h);
        free(take_messages());
        Fclose(fd);
        rpmtsFree(ts);
        if (rc != RPMRC_OK && rc != RPMRC_NOKEY && rc != RPMRC_NOTTRUSTED) {
                *ret_error = xasprintf("%s: cannot read its header", path);
                headerFree(h);
                return -EBADMSG;
        }
        struct rpmtd_s td;
        r = 0;
        if (headerGet(h, RPMTAG_FILENAMES, &td, HEADERGET_EXT)) {
                for (const char *f; r == 0 && (f = rpmtdNextString(&td));)
                        if (!rpm_file_path_ok(f)) {
                                _cleanup_free_ char *nevra = headerGetAsString(h, RPMTAG_NEVRA);
                                *ret_error = xasprintf("%s (%s): refused: the path '%s' would be "
                                                       "written outside the root or through "
                                                       "'.' or '..'",
                                                       nevra, path, f);
                                r = -EBADMSG;
                        } else if (files)
                                strv_extend(files, f);
                rpmtdFreeData(&td);
        }
        headerFree(h);
        return r;
}
