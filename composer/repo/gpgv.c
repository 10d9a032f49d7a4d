/* SPDX-License-Identifier: MIT */
/* gpgv for the repositories of every family (Debian's InRelease, rpm-md's repomd.xml.asc): a
 * signature checked against the given keyrings only, and what gpgv's status lines say of it. */
#include <assert.h>
#include <string.h>

#include "vmcompose/log.h"
#include "vmcompose/repo.h"
#include "vmcompose/spawn.h"

const char *repo_gpgv_why(const char *status) {
        if (!status)
                return "gpgv did not run";
        /* A good signature by a key of the keyrings, and no bad or unusable one beside it. */
        if (strstr(status, "[GNUPG:] VALIDSIG") && strstr(status, "[GNUPG:] GOODSIG") &&
            !strstr(status, "[GNUPG:] BADSIG") && !strstr(status, "[GNUPG:] ERRSIG"))
                return NULL;
        static const struct {
                const char *keyword, *why;
        } reasons[] = {
                {"[GNUPG:] NO_PUBKEY", "signed by an unknown key"},
                {"[GNUPG:] BADSIG", "bad signature (tampered?)"},
                {"[GNUPG:] NODATA", "not signed (no signature data)"},
                {"[GNUPG:] EXPKEYSIG", "signed with an expired key"},
                {"[GNUPG:] REVKEYSIG", "signed with a revoked key"},
        };
        for (size_t i = 0; i < ELEMENTSOF(reasons); i++)
                if (strstr(status, reasons[i].keyword))
                        return reasons[i].why;
        return "signature not valid";
}

int repo_gpgv_verify(char *const *keyrings, const char *signature, const char *file,
                     const char *out, const char **ret_why) {
        _cleanup_strv_free_ char **argv = NULL;
        Buffer status = {};

        assert(keyrings && *keyrings && file && (!signature || !out));
        strv_extend(&argv, "gpgv");
        strv_extend(&argv, "--status-fd");
        strv_extend(&argv, "1");
        for (char *const *k = keyrings; *k; k++) {
                strv_extend(&argv, "--keyring");
                strv_extend(&argv, *k);
        }
        if (out) {
                strv_extend(&argv, "--output");
                strv_extend(&argv, out);
        }
        if (signature)
                strv_extend(&argv, signature);
        strv_extend(&argv, file);
        int r = spawn_run(argv, NULL, &status);
        const char *why = repo_gpgv_why(status.data);
        if (r != 0 && !why)
                why = "signature not valid"; /* gpgv failed without saying why */
        if (why)
                log_debug_sub("repo", "gpgv: %s", status.data ? status.data : "");
        buffer_done(&status);
        if (why) {
                *ret_why = why;
                return -EBADMSG;
        }
        return 0;
}
