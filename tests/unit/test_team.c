/* The KH step's thread team: every member runs, barriers order their
 * writes, and the sleeping paths (a member late to a barrier, a gap between
 * runs) wake up. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <time.h>

#include "plastic/team.h"

enum { MAXN = 4, PHASES = 50 };

typedef struct ctx {
    pl_team *team;
    int n;
    long slot[MAXN][16]; /* one cache line each */
    int ran[MAXN];
    int bad[MAXN];
    long late_ns; /* member n-1 sleeps this long before each barrier */
} ctx;

static void nap(long ns)
{
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    nanosleep(&ts, NULL);
}

/* Each phase every member adds its id + 1 to its own slot, then after a
 * barrier checks every slot; a second barrier keeps the next phase's
 * writes from racing the checks. */
static void phases(void *p, int id)
{
    ctx *c = p;
    c->ran[id]++;
    for (int ph = 1; ph <= PHASES; ph++) {
        c->slot[id][0] += id + 1;
        if (c->late_ns && id == c->n - 1)
            nap(c->late_ns);
        pl_team_barrier(c->team);
        for (int j = 0; j < c->n; j++)
            if (c->slot[j][0] != (long)ph * (j + 1))
                c->bad[id] = 1;
        pl_team_barrier(c->team);
    }
}

static void check(int n, int runs, long late_ns, long gap_ns)
{
    ctx c = {.n = n, .late_ns = late_ns};
    c.team = pl_team_create(n);
    assert_int_equal(pl_team_size(c.team), n);
    for (int r = 0; r < runs; r++) {
        for (int j = 0; j < n; j++)
            c.slot[j][0] = 0;
        pl_team_run(c.team, phases, &c);
        for (int j = 0; j < n; j++) {
            assert_int_equal(c.bad[j], 0);
            assert_int_equal(c.ran[j], r + 1);
            assert_int_equal(c.slot[j][0], (long)PHASES * (j + 1));
        }
        if (gap_ns)
            nap(gap_ns);
    }
    pl_team_destroy(c.team);
}

static void one_member(void **state) { (void)state; check(1, 10, 0, 0); }
static void busy_runs(void **state)
{
    (void)state;
    for (int n = 2; n <= MAXN; n++)
        check(n, 200, 0, 0);
}
/* 3 ms late or 3 ms between runs: past the yielding, into the sleep. */
static void late_member_wakes_sleepers(void **state) { (void)state; check(3, 2, 3000000L, 0); }
static void workers_wake_after_a_gap(void **state) { (void)state; check(2, 4, 0, 3000000L); }
static void destroy_null(void **state) { (void)state; pl_team_destroy(NULL); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_member),
        cmocka_unit_test(busy_runs),
        cmocka_unit_test(late_member_wakes_sleepers),
        cmocka_unit_test(workers_wake_after_a_gap),
        cmocka_unit_test(destroy_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
