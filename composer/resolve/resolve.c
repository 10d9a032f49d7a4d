/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "resolve-internal.h"

static const ResolverBackend *const backends[] = {
        &resolver_deb,
        &resolver_rpm,
};

const ResolverBackend *resolver_backend_find(const char *family) {
        for (size_t i = 0; i < ELEMENTSOF(backends); i++)
                if (streq(backends[i]->family, family))
                        return backends[i];
        return NULL;
}

int resolve_plan(const char *family, const ResolveRepo *repos, size_t n_repos,
                 const ResolveRequest *req, Plan *ret, Buffer *problems) {
        const ResolverBackend *b = resolver_backend_find(family);
        if (!b) {
                buffer_printf(problems, "no resolver for distribution family '%s'\n", family);
                return -EOPNOTSUPP;
        }
        if (req->groups && req->groups[0] && !b->groups) {
                buffer_printf(problems, "packages.groups: %s repositories have no groups\n",
                              family);
                return -EINVAL;
        }
        return b->solve(repos, n_repos, req, ret, problems);
}

int resolve_locked(const char *family, const ResolveRepo *repos, size_t n_repos,
                   const char *architecture, const LockedPackage *pins, size_t n_pins, Plan *ret,
                   Buffer *problems) {
        const ResolverBackend *b = resolver_backend_find(family);
        if (!b) {
                buffer_printf(problems, "no resolver for distribution family '%s'\n", family);
                return -EOPNOTSUPP;
        }
        return b->locked(repos, n_repos, architecture, pins, n_pins, ret, problems);
}

void plan_done(Plan *p) {
        for (size_t i = 0; i < p->n_packages; i++) {
                PlanPackage *x = &p->packages[i];
                free(x->name);
                free(x->version);
                free(x->architecture);
                free(x->repo);
                free(x->uri);
                free(x->filename);
                free(x->sha256);
                free(x->source);
                free(x->section);
                free(x->priority);
                free(x->reason);
                strv_free(x->depends);
                strv_free(x->pre_depends);
        }
        free(p->packages);
        *p = (Plan){};
}

const PlanPackage *plan_find(const Plan *p, const char *name) {
        for (size_t i = 0; i < p->n_packages; i++)
                if (streq(p->packages[i].name, name))
                        return &p->packages[i];
        return NULL;
}
