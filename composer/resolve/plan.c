/* SPDX-License-Identifier: MIT */
/* What both solver rows (resolve-deb.c, resolve-rpm.c) write into a Plan the same way. */
#include <string.h>

#include <solv/bitmap.h>
#include <solv/pool.h>
#include <solv/queue.h>

#include "resolve-internal.h"
#include "vmcompose/util.h"

int resolve_plan_cmp(const void *a, const void *b) {
        const PlanPackage *x = a, *y = b;
        return strcmp(x->name, y->name);
}

void resolve_plan_depends(Pool *pool, Id p, const Map *in_plan, PlanPackage *pp) {
        Solvable *s = pool_id2solvable(pool, p);
        Queue deps;
        bool pre = false;

        queue_init(&deps);
        solvable_lookup_deparray(s, SOLVABLE_REQUIRES, &deps, 0);
        for (int i = 0; i < deps.count; i++) {
                Id dep = deps.elements[i], pp2, *pp_it;
                if (dep == SOLVABLE_PREREQMARKER) {
                        pre = true;
                        continue;
                }
                for (pp_it = pool_whatprovides_ptr(pool, dep); (pp2 = *pp_it) != 0; pp_it++) {
                        if (pp2 == p || !MAPTST(in_plan, pp2))
                                continue;
                        const char *name = pool_id2str(pool, pool_id2solvable(pool, pp2)->name);
                        char ***list = pre ? &pp->pre_depends : &pp->depends;
                        if (!strv_contains(*list, name))
                                strv_extend(list, name);
                        break;
                }
        }
        queue_free(&deps);
}
