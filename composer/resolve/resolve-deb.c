/* SPDX-License-Identifier: MIT */
/* The Debian backend: libsolv over Packages indexes. */
#include <fnmatch.h>
#include <solv/bitmap.h>
#include <solv/pool.h>
#include <solv/poolarch.h>
#include <solv/repo.h>
#include <solv/repo_deb.h>
#include <solv/rules.h>
#include <solv/solver.h>
#include <solv/solverdebug.h>
#include <solv/transaction.h>
#include <stdio.h>
#include <string.h>

#include "resolve-internal.h"
#include "vmcompose/log.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(Pool *, pool_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(Solver *, solver_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(Transaction *, transaction_free);

typedef struct DebSolve {
        Pool *pool;
        DebIndex index;
        const ResolveRequest *req;
        const ResolveRepo *repos;
        size_t n_repos;
        Map base_names; /* name ids added because of packages.base */
} DebSolve;

static bool is_base(const DebSolve *d, Id name) {
        return name < d->base_names.size * 8 && MAPTST(&d->base_names, name);
}

static const DebEntry *entry_of(DebSolve *d, Id p) {
        Solvable *s = pool_id2solvable(d->pool, p);
        return deb_index_find(&d->index, pool_id2str(d->pool, s->name),
                              pool_id2str(d->pool, s->evr), pool_id2str(d->pool, s->arch));
}

/* The rule that forbids this package, or NULL. */
static const ResolveForbid *forbidden_by(DebSolve *d, const char *name, const DebEntry *e) {
        if (strv_contains(d->req->allow, name))
                return NULL;
        for (size_t i = 0; i < d->req->n_forbid; i++) {
                const ResolveForbid *f = &d->req->forbid[i];
                const char *subject = name;
                if (f->section) {
                        if (!e || !e->section)
                                continue;
                        /* "contrib/x11" and "x11" are both the x11 section. */
                        const char *slash = strrchr(e->section, '/');
                        subject = slash ? slash + 1 : e->section;
                }
                if (fnmatch(f->pattern, subject, 0) == 0)
                        return f;
        }
        return NULL;
}

static bool in_base(const char *base, const DebEntry *e) {
        if (!e || streq(base, "none"))
                return false;
        if (e->essential)
                return true;
        if (streq(base, "essential") || !e->priority)
                return false;
        if (streq(e->priority, "required"))
                return true;
        return streq(base, "important") && streq(e->priority, "important");
}

static int load_repos(DebSolve *d) {
        for (size_t i = 0; i < d->n_repos; i++) {
                /* Read twice as a stream, not into memory: Debian main's index is ~50 MB. */
                FILE *f = fopen(d->repos[i].packages_path, "re");
                int r = f ? deb_index_load_file(&d->index, f) : -errno;
                if (r < 0) {
                        if (f)
                                fclose(f);
                        return log_error_errno(r, "resolve: cannot read the index of %s (%s): %m",
                                               d->repos[i].name, d->repos[i].packages_path);
                }
                rewind(f);
                Repo *repo = repo_create(d->pool, d->repos[i].name);
                repo->appdata = (void *)&d->repos[i];
                r = repo_add_debpackages(repo, f, 0);
                fclose(f);
                if (r != 0)
                        return log_error_errno(EBADMSG, "resolve: %s: bad index: %s",
                                               d->repos[i].name, pool_errstr(d->pool));
        }
        pool_addfileprovides(d->pool);
        pool_createwhatprovides(d->pool);
        return 0;
}

static bool name_exists(Pool *pool, Id name) {
        Id p;
        Solvable *s;
        FOR_POOL_SOLVABLES(p) {
                s = pool_id2solvable(pool, p);
                if (s->name == name)
                        return true;
        }
        return false;
}

/* "less <- man-db (Depends: less) <- requested": why the solver chose p. */
static void describe_chain(DebSolve *d, Solver *solv, Id p, Buffer *out) {
        Pool *pool = d->pool;
        Id cur = p;

        buffer_puts(out, pool_solvid2str(pool, p));
        for (unsigned depth = 0; depth < 32; depth++) {
                Id info, from = 0, to = 0, dep = 0;
                int reason = solver_describe_decision(solv, cur, &info);
                /* A unit-rule decision was propagated by a rule: a job or a dependency. */
                SolverRuleinfo type = info > 0 ? solver_ruleinfo(solv, info, &from, &to, &dep) : 0;
                if (reason == SOLVER_REASON_RESOLVE_JOB || type == SOLVER_RULE_JOB) {
                        Solvable *s = pool_id2solvable(pool, cur);
                        bool base = is_base(d, s->name);
                        buffer_printf(out, " <- %s",
                                      base ? "the base set (packages.base)"
                                           : "requested by the profile");
                        return;
                }
                if (!from ||
                    (type != SOLVER_RULE_PKG_REQUIRES && type != SOLVER_RULE_PKG_RECOMMENDS))
                        break;
                buffer_printf(out, " <- %s (%s: %s)", pool_solvid2str(pool, from),
                              type == SOLVER_RULE_PKG_RECOMMENDS ? "Recommends" : "Depends",
                              pool_dep2str(pool, dep));
                cur = from;
        }
        buffer_puts(out, " <- ?");
}

static void add_job_names(DebSolve *d, Queue *job, char **names, Id how) {
        for (char **n = names; n && *n; n++)
                queue_push2(job, how | SOLVER_SOLVABLE_NAME, pool_str2id(d->pool, *n, 1));
}

/* Solves; with_forbid_locks false is the diagnostic run that finds what pulls a forbidden
 * package in. */
static int run_solver(DebSolve *d, Queue *base_job, bool with_forbid_locks, Solver **ret) {
        _cleanup_(solver_freep) Solver *solv = solver_create(d->pool);
        Queue job;
        int nprob;

        queue_init_clone(&job, base_job);
        if (with_forbid_locks) {
                Pool *pool = d->pool;
                Id p;
                Solvable *s;
                FOR_POOL_SOLVABLES(p) {
                        s = pool_id2solvable(d->pool, p);
                        if (forbidden_by(d, pool_id2str(d->pool, s->name), entry_of(d, p)))
                                queue_push2(&job, SOLVER_LOCK | SOLVER_SOLVABLE, p);
                }
        }
        solver_set_flag(solv, SOLVER_FLAG_IGNORE_RECOMMENDED, !d->req->recommends);
        nprob = solver_solve(solv, &job);
        queue_free(&job);
        *ret = TAKE_PTR(solv);
        return nprob;
}

static char *reason_of(DebSolve *d, Solver *solv, Id p) {
        Solvable *s = pool_id2solvable(d->pool, p);
        const char *name = pool_id2str(d->pool, s->name);

        if (strv_contains(d->req->install, name))
                return xstrdup("requested");
        if (is_base(d, s->name))
                return xasprintf("base (%s)", d->req->base);
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
        return xstrdup(reason == SOLVER_REASON_WEAKDEP ? "weak dependency" : "dependency");
}

static void fill_package(DebSolve *d, Id p, PlanPackage *pp) {
        Solvable *s = pool_id2solvable(d->pool, p);
        const ResolveRepo *repo = s->repo->appdata;
        const DebEntry *e = entry_of(d, p);
        unsigned medianr;
        Id type;
        const char *loc = solvable_get_location(s, &medianr);
        const char *sum = solvable_lookup_checksum(s, SOLVABLE_CHECKSUM, &type);
        const char *src = solvable_lookup_sourcepkg(s);

        pp->name = xstrdup(pool_id2str(d->pool, s->name));
        pp->version = xstrdup(pool_id2str(d->pool, s->evr));
        pp->architecture = xstrdup(pool_id2str(d->pool, s->arch));
        pp->repo = xstrdup(repo->name);
        pp->filename = xstrdup(loc ? loc : "");
        pp->uri = xasprintf("%s%s%s", repo->uri,
                            *repo->uri && repo->uri[strlen(repo->uri) - 1] == '/' ? "" : "/",
                            pp->filename);
        pp->sha256 = xstrdup(sum && type == REPOKEY_TYPE_SHA256 ? sum : "");
        pp->source = xstrdup(src ? src : pp->name);
        pp->installed_size = solvable_lookup_num(s, SOLVABLE_INSTALLSIZE, 0);
        pp->size = e ? e->size : 0;
        pp->section = xstrdup(e && e->section ? e->section : "");
        pp->priority = xstrdup(e && e->priority ? e->priority : "");
        pp->essential = e && e->essential;
}

static void fill_plan(DebSolve *d, Solver *solv, Plan *ret) {
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

static int solve_inner(DebSolve *d, Queue *job, Plan *ret, Buffer *problems) {
        Pool *pool = d->pool;
        const ResolveRequest *req = d->req;
        int r = 0;

        r = load_repos(d);
        if (r < 0)
                return r;
        map_free(&d->base_names);
        map_init(&d->base_names, pool->ss.nstrings);

        /* Asking for a forbidden or unknown package by name is the profile's mistake: say so
         * before solving. */
        for (char **n = req->install; n && *n; n++) {
                const ResolveForbid *f = forbidden_by(d, *n, NULL);
                Id id = pool_str2id(pool, *n, 0);
                if (!f && id) {
                        /* A section rule needs the package's section. */
                        Id p;
                        Solvable *s;
                        FOR_POOL_SOLVABLES(p) {
                                s = pool_id2solvable(pool, p);
                                if (s->name == id && (f = forbidden_by(d, *n, entry_of(d, p))))
                                        break;
                        }
                }
                if (f) {
                        buffer_printf(problems, "package %s is forbidden by %s\n", *n, f->origin);
                        r = -EPERM;
                } else if (!id || !name_exists(pool, id)) {
                        buffer_printf(problems, "package %s is not in any repository\n", *n);
                        r = -ENOPKG;
                }
        }
        if (r < 0)
                return r;

        /* The distribution's base set, as the profile's packages.base says. */
        Id p;
        Solvable *s;
        FOR_POOL_SOLVABLES(p) {
                s = pool_id2solvable(pool, p);
                const char *name = pool_id2str(pool, s->name);
                const DebEntry *e = entry_of(d, p);
                if (!in_base(req->base, e) || is_base(d, s->name) ||
                    strv_contains(req->remove, name))
                        continue;
                if (forbidden_by(d, name, e)) {
                        log_info("resolve: base package %s is forbidden by policy, leaving it out",
                                 name);
                        continue;
                }
                MAPSET(&d->base_names, s->name);
                queue_push2(job, SOLVER_INSTALL | SOLVER_SOLVABLE_NAME, s->name);
        }
        add_job_names(d, job, req->install, SOLVER_INSTALL);
        add_job_names(d, job, req->remove, SOLVER_LOCK);

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
                        const ResolveForbid *f = forbidden_by(d, pool_id2str(pool, fs->name),
                                                              entry_of(d, q.elements[i]));
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

static int solve_deb(const ResolveRepo *repos, size_t n_repos, const ResolveRequest *req, Plan *ret,
                     Buffer *problems) {
        _cleanup_(pool_freep) Pool *pool = pool_create();
        DebSolve d = {.pool = pool, .req = req, .repos = repos, .n_repos = n_repos};
        Queue job;

        pool_setdisttype(pool, DISTTYPE_DEB);
        pool_setarch(pool, req->architecture);
        queue_init(&job);
        map_init(&d.base_names, 0);
        int r = solve_inner(&d, &job, ret, problems);
        queue_free(&job);
        map_free(&d.base_names);
        deb_index_done(&d.index);
        return r;
}

static int locked_inner(DebSolve *d, const LockedPackage *pins, size_t n_pins, Plan *ret,
                        Buffer *problems) {
        Pool *pool = d->pool;
        int r = load_repos(d);
        if (r < 0)
                return r;

        Plan plan = {.packages = xcalloc(n_pins + 1, sizeof(PlanPackage))};
        _cleanup_free_ Id *found_ids = xcalloc(n_pins + 1, sizeof(Id));
        map_free(&d->base_names);
        map_init(&d->base_names, pool->nsolvables);
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
                MAPSET(&d->base_names, found); /* reused as the set of pinned solvables */
                found_ids[plan.n_packages - 1] = found;
        }
        for (size_t i = 0; r == 0 && i < plan.n_packages; i++)
                resolve_plan_depends(d->pool, found_ids[i], &d->base_names, &plan.packages[i]);
        if (r < 0) {
                plan_done(&plan);
                return r;
        }
        qsort(plan.packages, plan.n_packages, sizeof(PlanPackage), resolve_plan_cmp);
        *ret = plan;
        return 0;
}

static int locked_deb(const ResolveRepo *repos, size_t n_repos, const char *architecture,
                      const LockedPackage *pins, size_t n_pins, Plan *ret, Buffer *problems) {
        _cleanup_(pool_freep) Pool *pool = pool_create();
        DebSolve d = {.pool = pool, .repos = repos, .n_repos = n_repos};

        pool_setdisttype(pool, DISTTYPE_DEB);
        pool_setarch(pool, architecture);
        map_init(&d.base_names, 0);
        int r = locked_inner(&d, pins, n_pins, ret, problems);
        map_free(&d.base_names);
        deb_index_done(&d.index);
        return r;
}

const ResolverBackend resolver_deb = {
        .family = "debian",
        .solve = solve_deb,
        .locked = locked_deb,
};
