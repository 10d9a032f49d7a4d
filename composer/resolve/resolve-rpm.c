/* SPDX-License-Identifier: MIT */
/* The rpm-md backend (Fedora, Azure Linux): libsolv over primary.xml and filelists.xml, with
 * rpm's version comparison, rich (boolean) dependencies, file dependencies and obsoletes; weak
 * dependencies (Recommends, Supplements) off unless packages.recommends, as dnf's
 * install_weak_deps=False. */
#include <fcntl.h>
#include <fnmatch.h>
#include <solv/bitmap.h>
#include <solv/evr.h>
#include <solv/pool.h>
#include <solv/poolarch.h>
#include <solv/repo.h>
#include <solv/repo_comps.h>
#include <solv/repo_rpmmd.h>
#include <solv/rules.h>
#include <solv/solv_xfopen.h>
#include <solv/solver.h>
#include <solv/transaction.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "resolve-internal.h"
#include "vmcompose/log.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(Pool *, pool_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(Solver *, solver_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(Transaction *, transaction_free);

typedef struct RpmSolve {
        Pool *pool;
        const ResolveRequest *req;
        const ResolveRepo *repos;
        size_t n_repos;
        char **replaced; /* "old new" pairs: a requested name obsoleted by another package */
        char **grouped;  /* "name group" pairs: the packages a comps group brought in */
} RpmSolve;

/* Debian's architecture names as rpm's. */
static const char *rpm_arch(const char *arch) {
        static const char *const map[][2] = {
                {"amd64", "x86_64"},  {"arm64", "aarch64"},   {"i386", "i686"},
                {"armhf", "armv7hl"}, {"ppc64el", "ppc64le"},
        };
        for (size_t i = 0; arch && i < ELEMENTSOF(map); i++)
                if (streq(map[i][0], arch))
                        return map[i][1];
        return arch;
}

/* The rule that forbids this package name, or NULL. rpm-md has no archive sections: a
 * section rule matches nothing here. */
static const ResolveForbid *forbidden_by(const RpmSolve *d, const char *name) {
        if (strv_contains(d->req->allow, name))
                return NULL;
        for (size_t i = 0; i < d->req->n_forbid; i++) {
                const ResolveForbid *f = &d->req->forbid[i];
                if (!f->section && fnmatch(f->pattern, name, 0) == 0)
                        return f;
        }
        return NULL;
}

/* Opens a metadata file as served (the cache names it by digest, without a suffix): the
 * compression is read from its first bytes. */
static FILE *open_metadata(const char *path) {
        unsigned char m[6] = {};
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return NULL;
        ssize_t n = pread(fd, m, sizeof(m), 0);
        const char *as = "metadata.xml";
        if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b)
                as = "metadata.xml.gz";
        else if (n >= 6 && memcmp(m,
                                  "\xfd"
                                  "7zXZ\0",
                                  6) == 0)
                as = "metadata.xml.xz";
        else if (n >= 4 && memcmp(m, "\x28\xb5\x2f\xfd", 4) == 0)
                as = "metadata.xml.zst";
        else if (n >= 3 && memcmp(m, "BZh", 3) == 0)
                as = "metadata.xml.bz2";
        FILE *f = solv_xfopen_fd(as, fd, "r");
        if (!f)
                close(fd);
        return f;
}

static int add_metadata(RpmSolve *d, Repo *repo, const ResolveRepo *rr, const char *path,
                        int flags) {
        FILE *f = open_metadata(path);
        if (!f)
                return log_error_errno(errno ?: EIO, "resolve: repository %s: cannot read %s: %m",
                                       rr->name, path);
        int r = repo_add_rpmmd(repo, f, NULL, flags);
        fclose(f);
        if (r != 0)
                return log_error_errno(EBADMSG, "resolve: repository %s: %s: %s", rr->name, path,
                                       pool_errstr(d->pool));
        return 0;
}

/* The comps groups, as solvables named "group:ID" whose Requires are the group's mandatory
 * packages and Recommends its default ones. */
static int add_comps(RpmSolve *d, Repo *repo, const ResolveRepo *rr) {
        FILE *f = open_metadata(rr->comps_path);
        if (!f)
                return log_error_errno(errno ?: EIO, "resolve: repository %s: cannot read %s: %m",
                                       rr->name, rr->comps_path);
        int r = repo_add_comps(repo, f, 0);
        fclose(f);
        if (r != 0)
                return log_error_errno(EBADMSG, "resolve: repository %s: %s: %s", rr->name,
                                       rr->comps_path, pool_errstr(d->pool));
        return 0;
}

static int load_repos(RpmSolve *d) {
        for (size_t i = 0; i < d->n_repos; i++) {
                const ResolveRepo *rr = &d->repos[i];
                Repo *repo = repo_create(d->pool, rr->name);
                repo->appdata = (void *)rr;
                /* dnf: the lower priority, then the lower cost wins; libsolv: the higher. */
                repo->priority = -(int)(rr->priority ?: 99);
                repo->subpriority = -(int)(rr->cost ?: 1000);
                /* filelists extends the solvables primary made, found by their checksum: the
                 * primary data must be internalized first. */
                int r = add_metadata(d, repo, rr, rr->packages_path, 0);
                if (r == 0 && rr->filelists_path)
                        r = add_metadata(d, repo, rr, rr->filelists_path, REPO_EXTEND_SOLVABLES);
                if (r == 0 && rr->comps_path)
                        r = add_comps(d, repo, rr);
                if (r < 0)
                        return r;
        }
        pool_addfileprovides(d->pool);
        pool_createwhatprovides(d->pool);
        return 0;
}

/* The best package named name, or 0. */
static Id best_named(Pool *pool, Id name) {
        Id p, best = 0;
        Solvable *s;
        FOR_POOL_SOLVABLES(p) {
                s = pool_id2solvable(pool, p);
                if (s->name != name || !pool_installable(pool, s))
                        continue;
                if (!best || pool_evrcmp(pool, s->evr, pool_id2solvable(pool, best)->evr,
                                         EVRCMP_COMPARE) > 0)
                        best = p;
        }
        return best;
}

/* dnf's rule for a requested name: when another available package obsoletes the best package
 * of that name, the obsoleting package is installed instead. Returns its name, or 0. */
static Id obsoleted_by(Pool *pool, Id name) {
        Id target = best_named(pool, name), p;
        Solvable *s;
        if (!target)
                return 0;
        FOR_POOL_SOLVABLES(p) {
                s = pool_id2solvable(pool, p);
                if (s->name == name || !s->obsoletes || !pool_installable(pool, s))
                        continue;
                for (Id *o = s->repo->idarraydata + s->obsoletes; *o; o++)
                        if (pool_match_nevr(pool, pool_id2solvable(pool, target), *o))
                                return s->name;
        }
        return 0;
}

/* "less <- fixture-pager-helper (Requires: less) <- ... <- requested": why the solver chose p. */
static void describe_chain(RpmSolve *d, Solver *solv, Id p, Buffer *out) {
        Pool *pool = d->pool;
        Id cur = p;

        buffer_puts(out, pool_solvid2str(pool, p));
        for (unsigned depth = 0; depth < 32; depth++) {
                Id info, from = 0, to = 0, dep = 0;
                int reason = solver_describe_decision(solv, cur, &info);
                SolverRuleinfo type = info > 0 ? solver_ruleinfo(solv, info, &from, &to, &dep) : 0;
                if (reason == SOLVER_REASON_RESOLVE_JOB || type == SOLVER_RULE_JOB) {
                        buffer_puts(out, " <- requested by the profile");
                        return;
                }
                if (!from ||
                    (type != SOLVER_RULE_PKG_REQUIRES && type != SOLVER_RULE_PKG_RECOMMENDS))
                        break;
                buffer_printf(out, " <- %s (%s: %s)", pool_solvid2str(pool, from),
                              type == SOLVER_RULE_PKG_RECOMMENDS ? "Recommends" : "Requires",
                              pool_dep2str(pool, dep));
                cur = from;
        }
        buffer_puts(out, " <- ?");
}

static int run_solver(RpmSolve *d, Queue *base_job, bool with_forbid_locks, Solver **ret) {
        _cleanup_(solver_freep) Solver *solv = solver_create(d->pool);
        Queue job;
        int nprob;

        queue_init_clone(&job, base_job);
        if (with_forbid_locks) {
                Pool *pool = d->pool;
                Id p;
                Solvable *s;
                FOR_POOL_SOLVABLES(p) {
                        s = pool_id2solvable(pool, p);
                        if (forbidden_by(d, pool_id2str(pool, s->name)))
                                queue_push2(&job, SOLVER_LOCK | SOLVER_SOLVABLE, p);
                }
        }
        solver_set_flag(solv, SOLVER_FLAG_IGNORE_RECOMMENDED, !d->req->recommends);
        nprob = solver_solve(solv, &job);
        queue_free(&job);
        *ret = TAKE_PTR(solv);
        return nprob;
}

/* The comps group that brought name in, or NULL. */
static const char *grouped_by(const RpmSolve *d, const char *name) {
        for (char **x = d->grouped; x && x[0] && x[1]; x += 2)
                if (streq(x[0], name))
                        return x[1];
        return NULL;
}

static char *reason_of(RpmSolve *d, Solver *solv, Id p) {
        Solvable *s = pool_id2solvable(d->pool, p);
        const char *name = pool_id2str(d->pool, s->name);

        if (strv_contains(d->req->install, name))
                return xstrdup("requested");
        const char *group = grouped_by(d, name);
        if (group)
                return xasprintf("group %s", group);
        for (char **x = d->replaced; x && x[0] && x[1]; x += 2)
                if (streq(x[1], name))
                        return xasprintf("requested as %s (which it obsoletes)", x[0]);
        Id info, from = 0, to = 0, dep = 0;
        int reason = solver_describe_decision(solv, p, &info);
        if (info > 0) {
                SolverRuleinfo type = solver_ruleinfo(solv, info, &from, &to, &dep);
                if (from && type == SOLVER_RULE_PKG_REQUIRES)
                        return xasprintf(
                                "dependency of %s",
                                pool_id2str(d->pool, pool_id2solvable(d->pool, from)->name));
                if (from && type == SOLVER_RULE_PKG_RECOMMENDS)
                        return xasprintf(
                                "recommended by %s",
                                pool_id2str(d->pool, pool_id2solvable(d->pool, from)->name));
        }
        if (reason == SOLVER_REASON_WEAKDEP) {
                /* (type, from, dep) triples: the first recommender names the reason. */
                Queue q;
                char *why = NULL;
                queue_init(&q);
                solver_describe_weakdep_decision(solv, p, &q);
                if (q.count >= 3 && q.elements[1])
                        why = xasprintf(
                                "%s %s",
                                q.elements[0] == SOLVER_REASON_SUPPLEMENTED ? "supplements"
                                                                            : "recommended by",
                                pool_id2str(d->pool,
                                            pool_id2solvable(d->pool, q.elements[1])->name));
                queue_free(&q);
                return why ?: xstrdup("weak dependency");
        }
        return xstrdup("dependency");
}

/* The source package's name: "bash" of "bash-5.2.26-3.fc43.src.rpm". */
static char *source_name(const char *srpm, const char *fallback) {
        if (!srpm)
                return xstrdup(fallback);
        const char *end = srpm + strlen(srpm);
        for (int dashes = 0; end > srpm && dashes < 2;)
                if (*--end == '-')
                        dashes++;
        return end > srpm ? xstrndup(srpm, (size_t)(end - srpm)) : xstrdup(fallback);
}

static void fill_package(RpmSolve *d, Id p, PlanPackage *pp) {
        Solvable *s = pool_id2solvable(d->pool, p);
        const ResolveRepo *repo = s->repo->appdata;
        unsigned medianr;
        Id type = 0;
        const char *loc = solvable_get_location(s, &medianr);
        const char *sum = solvable_lookup_checksum(s, SOLVABLE_CHECKSUM, &type);
        const char *src = solvable_lookup_sourcepkg(s);
        const char *group = solvable_lookup_str(s, SOLVABLE_GROUP);

        pp->name = xstrdup(pool_id2str(d->pool, s->name));
        pp->version = xstrdup(pool_id2str(d->pool, s->evr));
        pp->architecture = xstrdup(pool_id2str(d->pool, s->arch));
        pp->repo = xstrdup(repo->name);
        pp->filename = xstrdup(loc ? loc : "");
        pp->uri = xasprintf("%s%s%s", repo->uri,
                            *repo->uri && repo->uri[strlen(repo->uri) - 1] == '/' ? "" : "/",
                            pp->filename);
        pp->sha256 = xstrdup(sum && type == REPOKEY_TYPE_SHA256 ? sum : "");
        pp->source = source_name(src, pp->name);
        pp->installed_size = solvable_lookup_num(s, SOLVABLE_INSTALLSIZE, 0);
        pp->size = solvable_lookup_num(s, SOLVABLE_DOWNLOADSIZE, 0);
        pp->section = xstrdup(group ? group : "");
        pp->priority = xstrdup("");
}

static void fill_plan(RpmSolve *d, Solver *solv, Plan *ret) {
        _cleanup_(transaction_freep) Transaction *t = solver_create_transaction(solv);
        Queue q;
        queue_init(&q);
        transaction_installedresult(t, &q);

        Plan plan = {.packages = xcalloc((size_t)q.count + 1, sizeof(PlanPackage))};
        Map in_plan;
        map_init(&in_plan, d->pool->nsolvables);
        for (int i = 0; i < q.count; i++)
                MAPSET(&in_plan, q.elements[i]);
        for (int i = 0; i < q.count; i++) {
                PlanPackage *pp = &plan.packages[plan.n_packages++];
                fill_package(d, q.elements[i], pp);
                resolve_plan_depends(d->pool, q.elements[i], &in_plan, pp);
                pp->reason = reason_of(d, solv, q.elements[i]);
        }
        map_free(&in_plan);
        queue_free(&q);
        qsort(plan.packages, plan.n_packages, sizeof(PlanPackage), resolve_plan_cmp);
        *ret = plan;
}

/* dnf's @GROUP: each group's mandatory and default packages as install jobs (not weak
 * dependencies: they are installed with weak dependencies off too). A package the policy
 * forbids or the profile removes is left out, one no repository has is skipped with a
 * warning, as dnf does. -ENOPKG for a group no repository's comps data has. */
static int add_group_jobs(RpmSolve *d, Queue *job, Buffer *problems) {
        Pool *pool = d->pool;
        int r = 0;

        for (char **g = d->req->groups; g && *g; g++) {
                _cleanup_free_ char *gname = xasprintf("group:%s", *g);
                Id gid = pool_str2id(pool, gname, 0);
                Id gp = gid ? best_named(pool, gid) : 0;
                if (!gp) {
                        buffer_printf(problems, "group %s is not in any repository's comps data\n",
                                      *g);
                        r = -ENOPKG;
                        continue;
                }
                Queue deps;
                queue_init(&deps);
                solvable_lookup_deparray(pool_id2solvable(pool, gp), SOLVABLE_REQUIRES, &deps, 0);
                solvable_lookup_deparray(pool_id2solvable(pool, gp), SOLVABLE_RECOMMENDS, &deps, 0);
                for (int i = 0; i < deps.count; i++) {
                        Id dep = deps.elements[i];
                        if (ISRELDEP(dep) || dep == SOLVABLE_PREREQMARKER)
                                continue;
                        const char *name = pool_id2str(pool, dep);
                        if (strv_contains(d->req->remove, name) || grouped_by(d, name))
                                continue;
                        if (forbidden_by(d, name)) {
                                log_info("resolve: group %s's package %s is forbidden by policy, "
                                         "leaving it out",
                                         *g, name);
                                continue;
                        }
                        if (!best_named(pool, dep)) {
                                log_warning("resolve: group %s lists %s, which no repository has; "
                                            "skipping it",
                                            *g, name);
                                continue;
                        }
                        strv_extend(&d->grouped, name);
                        strv_extend(&d->grouped, *g);
                        queue_push2(job, SOLVER_INSTALL | SOLVER_SOLVABLE_NAME, dep);
                }
                queue_free(&deps);
        }
        return r;
}

static int solve_inner(RpmSolve *d, Queue *job, Plan *ret, Buffer *problems) {
        Pool *pool = d->pool;
        const ResolveRequest *req = d->req;
        int r = 0;

        r = load_repos(d);
        if (r < 0)
                return r;
        if (req->base && !streq(req->base, "none"))
                log_debug_sub("resolve",
                              "packages.base %s: rpm-md has no priorities; the base set is the "
                              "base profile's packages.install",
                              req->base);

        for (char **n = req->install; n && *n; n++) {
                const ResolveForbid *f = forbidden_by(d, *n);
                Id id = pool_str2id(pool, *n, 0);
                if (f) {
                        buffer_printf(problems, "package %s is forbidden by %s\n", *n, f->origin);
                        r = -EPERM;
                        continue;
                }
                if (!id || !best_named(pool, id)) {
                        buffer_printf(problems, "package %s is not in any repository\n", *n);
                        r = -ENOPKG;
                        continue;
                }
                Id by = obsoleted_by(pool, id);
                if (by && !strv_contains(req->install, pool_id2str(pool, by))) {
                        log_info("resolve: %s is obsoleted by %s, installing %s instead", *n,
                                 pool_id2str(pool, by), pool_id2str(pool, by));
                        strv_extend(&d->replaced, *n);
                        strv_extend(&d->replaced, pool_id2str(pool, by));
                        id = by;
                }
                queue_push2(job, SOLVER_INSTALL | SOLVER_SOLVABLE_NAME, id);
        }
        if (r < 0)
                return r;
        r = add_group_jobs(d, job, problems);
        if (r < 0)
                return r;
        for (char **n = req->remove; n && *n; n++)
                queue_push2(job, SOLVER_LOCK | SOLVER_SOLVABLE_NAME, pool_str2id(pool, *n, 1));

        _cleanup_(solver_freep) Solver *solv = NULL;
        int nprob = run_solver(d, job, true, &solv);
        if (nprob == 0) {
                fill_plan(d, solv, ret);
                return 0;
        }

        for (Id i = 1; i <= nprob; i++)
                buffer_printf(problems, "problem %d: %s\n", i, solver_problem2str(solv, i));
        /* Would it work without the policy? Then a forbidden package is needed: show the
         * chain that pulls each one in. */
        _cleanup_(solver_freep) Solver *open = NULL;
        if (req->n_forbid > 0 && run_solver(d, job, false, &open) == 0) {
                _cleanup_(transaction_freep) Transaction *t = solver_create_transaction(open);
                Queue q;
                queue_init(&q);
                transaction_installedresult(t, &q);
                for (int i = 0; i < q.count; i++) {
                        Solvable *fs = pool_id2solvable(pool, q.elements[i]);
                        const ResolveForbid *f = forbidden_by(d, pool_id2str(pool, fs->name));
                        if (!f)
                                continue;
                        buffer_puts(problems, "forbidden package needed: ");
                        describe_chain(d, open, q.elements[i], problems);
                        buffer_printf(problems, "\n  forbidden by %s\n", f->origin);
                }
                queue_free(&q);
        }
        return -ENOPKG;
}

static Pool *rpm_pool(const char *architecture) {
        Pool *pool = pool_create();
        pool_setdisttype(pool, DISTTYPE_RPM);
        pool_setarch(pool, rpm_arch(architecture));
        return pool;
}

static int solve_rpm(const ResolveRepo *repos, size_t n_repos, const ResolveRequest *req, Plan *ret,
                     Buffer *problems) {
        _cleanup_(pool_freep) Pool *pool = rpm_pool(req->architecture);
        RpmSolve d = {.pool = pool, .req = req, .repos = repos, .n_repos = n_repos};
        Queue job;

        queue_init(&job);
        int r = solve_inner(&d, &job, ret, problems);
        queue_free(&job);
        strv_free(d.replaced);
        strv_free(d.grouped);
        return r;
}

static int locked_inner(RpmSolve *d, const LockedPackage *pins, size_t n_pins, Plan *ret,
                        Buffer *problems) {
        Pool *pool = d->pool;
        int r = load_repos(d);
        if (r < 0)
                return r;

        Plan plan = {.packages = xcalloc(n_pins + 1, sizeof(PlanPackage))};
        _cleanup_free_ Id *found_ids = xcalloc(n_pins + 1, sizeof(Id));
        Map pinned;
        map_init(&pinned, pool->nsolvables);
        for (size_t i = 0; i < n_pins; i++) {
                const LockedPackage *pin = &pins[i];
                Id found = 0, p;
                Solvable *s;
                const char *now_sum = NULL;
                FOR_POOL_SOLVABLES(p) {
                        s = pool_id2solvable(pool, p);
                        if (!streq(pool_id2str(pool, s->name), pin->name) ||
                            !streq(pool_id2str(pool, s->evr), pin->version) ||
                            !streq(pool_id2str(pool, s->arch), pin->architecture))
                                continue;
                        Id type;
                        now_sum = solvable_lookup_checksum(s, SOLVABLE_CHECKSUM, &type);
                        found = p;
                        if (now_sum && streq(now_sum, pin->sha256))
                                break;
                }
                if (!found) {
                        buffer_printf(problems,
                                      "pinned package %s %s (%s) is not in any repository\n",
                                      pin->name, pin->version, pin->architecture);
                        r = -ENOPKG;
                        continue;
                }
                if (!now_sum || !streq(now_sum, pin->sha256)) {
                        buffer_printf(problems,
                                      "pinned package %s %s (%s) changed: the lock says SHA-256 "
                                      "%s, the repository now %s\n",
                                      pin->name, pin->version, pin->architecture, pin->sha256,
                                      now_sum ? now_sum : "none");
                        r = -ENOPKG;
                        continue;
                }
                PlanPackage *pp = &plan.packages[plan.n_packages++];
                fill_package(d, found, pp);
                pp->reason = xstrdup("locked");
                MAPSET(&pinned, found);
                found_ids[plan.n_packages - 1] = found;
        }
        for (size_t i = 0; r == 0 && i < plan.n_packages; i++)
                resolve_plan_depends(d->pool, found_ids[i], &pinned, &plan.packages[i]);
        map_free(&pinned);
        if (r < 0) {
                plan_done(&plan);
                return r;
        }
        qsort(plan.packages, plan.n_packages, sizeof(PlanPackage), resolve_plan_cmp);
        *ret = plan;
        return 0;
}

static int locked_rpm(const ResolveRepo *repos, size_t n_repos, const char *architecture,
                      const LockedPackage *pins, size_t n_pins, Plan *ret, Buffer *problems) {
        _cleanup_(pool_freep) Pool *pool = rpm_pool(architecture);
        RpmSolve d = {.pool = pool, .repos = repos, .n_repos = n_repos};
        return locked_inner(&d, pins, n_pins, ret, problems);
}

const ResolverBackend resolver_rpm = {
        .family = "rpm",
        .groups = true,
        .solve = solve_rpm,
        .locked = locked_rpm,
};
