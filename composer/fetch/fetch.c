/* SPDX-License-Identifier: MIT */
#include <curl/curl.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "vmcompose/fetch.h"
#include "vmcompose/hash.h"
#include "vmcompose/log.h"
#include "vmcompose/signals.h"
#include "vmcompose/util.h"

char *fetch_default_cache_dir(void) {
        const char *xdg = getenv("XDG_CACHE_HOME");
        const char *home = getenv("HOME");

        if (xdg && *xdg)
                return path_join(xdg, "vmcompose");
        if (geteuid() == 0)
                return xstrdup("/var/cache/vmcompose");
        if (home && *home)
                return xasprintf("%s/.cache/vmcompose", home);
        return xstrdup("/var/tmp/vmcompose-cache");
}

static bool valid_sha256(const char *s) {
        if (!s || strlen(s) != 64)
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                        return false;
        return true;
}

char *fetch_cache_path(const char *cache_dir, const char *sha256) {
        return xasprintf("%s/sha256/%.2s/%s", cache_dir, sha256, sha256);
}

typedef enum TransferState {
        T_WAITING, /* to start, or to retry at retry_at */
        T_ACTIVE,
        T_DONE,
        T_FAILED,
} TransferState;

/* One transfer. */
typedef struct Transfer {
        TransferState state;
        FetchItem *item;
        CURL *curl;
        char *final_path, *part_path;
        int fd;            /* the locked .part file */
        uint64_t offset;   /* bytes in the .part file */
        uint64_t received; /* bytes that came over the wire */
        Sha256 *hash;
        unsigned attempts;
        double retry_at; /* 0: not waiting */
        char errbuf[CURL_ERROR_SIZE];
        bool write_failed;
} Transfer;

static double now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t on_data(char *data, size_t size, size_t n, void *userdata) {
        Transfer *t = userdata;
        size_t len = size * n;
        const char *p = data;

        for (size_t left = len; left > 0;) {
                ssize_t w = write(t->fd, p, left);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0) {
                        t->write_failed = true;
                        return 0; /* aborts the transfer */
                }
                p += w;
                left -= (size_t)w;
        }
        sha256_update(t->hash, data, len);
        t->offset += len;
        t->received += len;
        return len;
}

/* Opens and locks the .part file and hashes what it already holds, for resuming. Returns 1
 * when another process holds the lock (try again later). */
static int open_part(Transfer *t) {
        int fd = fetch_cache_open(t->part_path, 0644);
        if (fd < 0)
                return fd;
        t->fd = fd;
        if (flock(t->fd, LOCK_EX | LOCK_NB) < 0) {
                int r = errno == EWOULDBLOCK ? 1 : -errno;
                close(t->fd);
                t->fd = -1;
                return r;
        }
        t->hash = sha256_new();
        t->offset = 0;
        char buf[1 << 16];
        for (;;) {
                ssize_t k = read(t->fd, buf, sizeof(buf));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                sha256_update(t->hash, buf, (size_t)k);
                t->offset += (uint64_t)k;
        }
        /* A part file longer than the whole file is garbage: start over. */
        if (t->item->size && t->offset > t->item->size) {
                if (ftruncate(t->fd, 0) < 0 || lseek(t->fd, 0, SEEK_SET) < 0)
                        return -errno;
                uint8_t d[SHA256_DIGEST_SIZE];
                sha256_finish(t->hash, d);
                t->hash = sha256_new();
                t->offset = 0;
        }
        return 0;
}

static void close_part(Transfer *t) {
        if (t->hash) {
                uint8_t d[SHA256_DIGEST_SIZE];
                sha256_finish(t->hash, d);
                t->hash = NULL;
        }
        if (t->fd >= 0) {
                close(t->fd); /* releases the lock */
                t->fd = -1;
        }
}

static void setup_curl(Transfer *t) {
        if (!t->curl)
                t->curl = curl_easy_init();
        else
                curl_easy_reset(t->curl);
        CURL *c = t->curl;
        curl_easy_setopt(c, CURLOPT_URL, t->item->uri);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
        curl_easy_setopt(c, CURLOPT_PRIVATE, t);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, t->errbuf);
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
        curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
        /* Stalled for 60 s below 1 KiB/s: give up and retry. */
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "vmcompose");
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,file");
        curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        if (t->offset > 0)
                curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)t->offset);
        t->errbuf[0] = 0;
        t->write_failed = false;
}

/* A complete download: check size and digest, then give it its name. */
static int finish_file(Transfer *t) {
        uint8_t d[SHA256_DIGEST_SIZE];
        char hex[2 * SHA256_DIGEST_SIZE + 1];

        sha256_finish(t->hash, d);
        t->hash = NULL;
        sha256_hex(d, hex);
        if (t->item->size && t->offset != t->item->size) {
                log_error("fetch: %s: got %llu bytes, the signed index says %llu (%s)",
                          t->item->name, (unsigned long long)t->offset,
                          (unsigned long long)t->item->size, t->item->uri);
                (void)unlink(t->part_path);
                return -EBADMSG;
        }
        if (!streq(hex, t->item->sha256)) {
                log_error("fetch: %s: SHA-256 mismatch: expected %s, got %s (%s); the file was "
                          "discarded",
                          t->item->name, t->item->sha256, hex, t->item->uri);
                (void)unlink(t->part_path);
                return -EBADMSG;
        }
        if (fsync(t->fd) < 0 || rename(t->part_path, t->final_path) < 0)
                return log_error_errno(errno, "fetch: cannot store %s: %m", t->final_path);
        t->item->path = xstrdup(t->final_path);
        return 0;
}

static int map_curl(CURLcode c, long http) {
        switch (c) {
        case CURLE_OK:
                return 0;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_HTTP_RETURNED_ERROR:
                return http == 404 || http == 410 ? -ENOENT : -EIO;
        case CURLE_FILE_COULDNT_READ_FILE:
        case CURLE_REMOTE_FILE_NOT_FOUND:
                return -ENOENT;
        case CURLE_WRITE_ERROR:
                return -EIO;
        default:
                return -EIO;
        }
}

static void progress(const FetchOptions *o, unsigned done, unsigned total, uint64_t bytes,
                     double start, bool final) {
        if (!o->progress)
                return;
        double el = now() - start;
        fprintf(stderr, "\rfetch: %u/%u packages, %.1f MiB, %.1f MiB/s%s", done, total,
                (double)bytes / (1 << 20), el > 0 ? (double)bytes / (1 << 20) / el : 0.0,
                final ? "\n" : "   ");
}

/* Starts what may start: up to o->parallel at once, in order, skipping back-offs. */
static void start_transfers(Transfer *ts, size_t n, const FetchOptions *o, CURLM *multi,
                            size_t *running, int *ret) {
        for (size_t i = 0; i < n && *running < o->parallel; i++) {
                Transfer *t = &ts[i];
                if (t->state != T_WAITING || t->retry_at > now())
                        continue;
                int r = open_part(t);
                if (r == 1) {
                        /* Another build is downloading it: use its result when it lands. */
                        if (access(t->final_path, F_OK) == 0) {
                                t->item->path = xstrdup(t->final_path);
                                t->item->cached = true;
                                t->state = T_DONE;
                        } else
                                t->retry_at = now() + 0.5;
                        continue;
                }
                if (r < 0) {
                        *ret = log_error_errno(r, "fetch: %s: %m", t->part_path);
                        t->state = T_FAILED;
                        continue;
                }
                t->attempts++;
                setup_curl(t);
                curl_multi_add_handle(multi, t->curl);
                t->state = T_ACTIVE;
                (*running)++;
        }
}

/* Handles one finished transfer: verified and stored, failed for good, or to retry. */
static void transfer_done(Transfer *t, CURLcode cc, long http, const FetchOptions *o,
                          FetchStats *st, int *ret) {
        /* A server that ignores Range would append the whole file again. */
        if (cc == CURLE_RANGE_ERROR || (cc == CURLE_OK && t->write_failed))
                cc = CURLE_WRITE_ERROR;
        int r = cc == CURLE_OK ? finish_file(t) : map_curl(cc, http);
        const char *why = t->errbuf[0] ? t->errbuf : curl_easy_strerror(cc);

        if (r == 0) {
                st->n_downloaded++;
                st->bytes_downloaded += t->received;
                t->state = T_DONE;
        } else if (r == -EBADMSG || r == -ENOENT || t->attempts > o->retries) {
                if (r != -EBADMSG)
                        log_error("fetch: %s: %s (%s)", t->item->name, why, t->item->uri);
                if (*ret == 0)
                        *ret = r;
                (void)unlink(t->part_path);
                t->state = T_FAILED;
        } else {
                /* Transient: back off 1, 2, 4 s and resume from the part file. */
                double wait = (double)(1u << (t->attempts - 1));
                log_info("fetch: %s: %s; retrying in %.0f s", t->item->name, why, wait);
                t->retry_at = now() + wait;
                t->state = T_WAITING;
        }
        close_part(t);
        curl_easy_cleanup(t->curl);
        t->curl = NULL;
}

static int run_transfers(Transfer *ts, size_t n, const FetchOptions *o, FetchStats *st) {
        CURLM *multi = curl_multi_init();
        double start = now();
        size_t running = 0;
        int ret = 0;

        if (!multi)
                return -ENOMEM;
        while (!signals_interrupted()) {
                start_transfers(ts, n, o, multi, &running, &ret);
                size_t done = 0, waiting = 0;
                for (size_t i = 0; i < n; i++) {
                        done += ts[i].state == T_DONE || ts[i].state == T_FAILED;
                        waiting += ts[i].state == T_WAITING;
                }
                progress(o, (unsigned)done, (unsigned)n, st->bytes_downloaded, start, false);
                if (running == 0 && waiting == 0)
                        break;

                int still, left;
                curl_multi_perform(multi, &still);
                for (CURLMsg *msg; (msg = curl_multi_info_read(multi, &left));) {
                        if (msg->msg != CURLMSG_DONE)
                                continue;
                        Transfer *t;
                        long http = 0;
                        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
                        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &http);
                        CURLcode cc = msg->data.result;
                        curl_multi_remove_handle(multi, t->curl);
                        running--;
                        transfer_done(t, cc, http, o, st, &ret);
                }
                if (running > 0)
                        curl_multi_poll(multi, NULL, 0, 200, NULL);
                else {
                        struct timespec pause = {0, 100 * 1000 * 1000};
                        nanosleep(&pause, NULL);
                }
        }
        progress(o, (unsigned)n, (unsigned)n, st->bytes_downloaded, start, true);
        if (signals_interrupted() && ret == 0)
                ret = -EINTR;
        for (size_t i = 0; i < n; i++) {
                if (ts[i].curl) {
                        curl_multi_remove_handle(multi, ts[i].curl);
                        curl_easy_cleanup(ts[i].curl);
                        ts[i].curl = NULL;
                }
                close_part(&ts[i]);
                if (ts[i].state != T_DONE && ret == 0)
                        ret = -EIO;
        }
        curl_multi_cleanup(multi);
        return ret;
}

int fetch_all(FetchItem *items, size_t n, const FetchOptions *opts, FetchStats *stats) {
        FetchOptions o = *opts;
        _cleanup_free_ char *default_dir = NULL;
        Transfer *ts = xcalloc(n + 1, sizeof(Transfer));
        FetchStats st = {};
        double start = now();
        size_t n_todo = 0;
        int ret = 0;

        if (!o.cache_dir)
                o.cache_dir = default_dir = fetch_default_cache_dir();
        if (o.parallel == 0)
                o.parallel = 8;
        if (o.retries == 0)
                o.retries = 3;
        o.progress = o.progress && isatty(STDERR_FILENO);

        /* What is in the cache already costs nothing. */
        for (size_t i = 0; i < n; i++) {
                FetchItem *it = &items[i];
                if (!valid_sha256(it->sha256)) {
                        log_error("fetch: %s: no valid SHA-256 in the signed index; refusing to "
                                  "download it unverified",
                                  it->name);
                        ret = -EBADMSG;
                        continue;
                }
                char *path = fetch_cache_path(o.cache_dir, it->sha256);
                struct stat s;
                if (stat(path, &s) == 0 && (!it->size || (uint64_t)s.st_size == it->size)) {
                        it->path = path;
                        it->cached = true;
                        st.n_cached++;
                        st.bytes_cached += (uint64_t)s.st_size;
                        continue;
                }
                Transfer *t = &ts[n_todo++];
                *t = (Transfer){.item = it, .fd = -1, .final_path = path};
                t->part_path = xasprintf("%s.part", path);
                int r = mkdir_parents(path);
                if (r < 0 && ret == 0)
                        ret = log_error_errno(r, "fetch: cannot create the cache in %s: %m",
                                              o.cache_dir);
        }
        if (ret == 0 && n_todo > 0)
                ret = run_transfers(ts, n_todo, &o, &st);

        for (size_t i = 0; i < n_todo; i++) {
                free(ts[i].final_path);
                free(ts[i].part_path);
        }
        free(ts);
        st.seconds = now() - start;
        if (stats)
                *stats = st;
        return ret;
}

int fetch_url(const char *uri, const char *path, uint64_t max_size) {
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        FetchItem item = {.name = uri, .uri = uri};
        Transfer t = {.item = &item, .fd = -1};
        long http = 0;
        int r = -EIO;

        if (fd < 0)
                return -errno;
        /* Unverified on purpose: the caller checks what it gets (a signature). */
        for (unsigned attempt = 0; attempt < 4 && !signals_interrupted(); attempt++) {
                if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
                        return -errno;
                t.fd = fd;
                t.offset = 0;
                t.hash = sha256_new();
                setup_curl(&t);
                curl_easy_setopt(t.curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_size);
                CURLcode cc = curl_easy_perform(t.curl);
                curl_easy_getinfo(t.curl, CURLINFO_RESPONSE_CODE, &http);
                uint8_t d[SHA256_DIGEST_SIZE];
                sha256_finish(t.hash, d);
                t.hash = NULL;
                r = map_curl(cc == CURLE_OK && t.write_failed ? CURLE_WRITE_ERROR : cc, http);
                if (r == 0 || r == -ENOENT)
                        break;
                log_info("fetch: %s: %s; retrying", uri,
                         t.errbuf[0] ? t.errbuf : curl_easy_strerror(cc));
                struct timespec pause = {(time_t)(1u << attempt), 0};
                nanosleep(&pause, NULL);
        }
        if (t.curl)
                curl_easy_cleanup(t.curl);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        return r;
}
