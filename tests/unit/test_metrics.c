/* metrics.jsonl records: text of records, escaping, overflow, appending to
 * files, and duration strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "plastic/metrics.h"

#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* Checks the record starts with {"event":"<event>","time":<s>.<ms> with a
 * current wall-clock time, and returns what follows the time. */
static const char *after_header(const pl_json *j, const char *event)
{
    char head[128];
    snprintf(head, sizeof head, "{\"event\":\"%s\",\"time\":", event);
    size_t n = strlen(head);
    assert_memory_equal(j->buf, head, n);
    const char *p = j->buf + n;
    char *end;
    long long sec = strtoll(p, &end, 10);
    assert_true(end > p);
    assert_int_equal(*end, '.');
    for (int i = 1; i <= 3; i++)
        assert_true(end[i] >= '0' && end[i] <= '9');
    assert_false(end[4] >= '0' && end[4] <= '9'); /* exactly three decimals */
    long long now = (long long)time(NULL);
    assert_true(sec >= now - 5 && sec <= now + 1);
    return end + 4;
}

static void test_record_text(void **state)
{
    (void)state;
    pl_json j;
    pl_json_begin(&j, "epoch");
    pl_json_str(&j, "rule", "kh");
    pl_json_int(&j, "epoch", 3);
    pl_json_int(&j, "neg", -42);
    pl_json_num(&j, "loss", 0.125);
    pl_json_num(&j, "third", 1.0 / 3.0);
    pl_json_num(&j, "big", 1e300);
    pl_json_end(&j);
    assert_false(j.overflow);
    assert_int_equal((int)strlen(j.buf), j.len);
    assert_string_equal(after_header(&j, "epoch"),
                        ",\"rule\":\"kh\",\"epoch\":3,\"neg\":-42,\"loss\":0.125,"
                        "\"third\":0.3333333333,\"big\":1e+300}\n");
    /* a second pl_json_end does not add another close */
    pl_json_end(&j);
    assert_int_equal(j.buf[j.len - 1], '\n');
    assert_int_equal(j.buf[j.len - 2], '}');
    assert_int_not_equal(j.buf[j.len - 3], '\n');
}

static void test_escaping(void **state)
{
    (void)state;
    pl_json j;
    pl_json_begin(&j, "a\"b");
    pl_json_str(&j, "path", "C:\\x \"q\"");
    pl_json_str(&j, "ws", "l1\nl2\tt\r\b\f");
    pl_json_str(&j, "ctl", "\x01\x1f|\x7f");
    pl_json_str(&j, "k\ney", "");
    pl_json_str(&j, "utf8", "caf\xc3\xa9 \xe2\x86\x92");  /* valid UTF-8 kept as is */
    pl_json_str(&j, "bad", "a\xff" "b\xc3");             /* invalid bytes replaced */
    pl_json_str(&j, "nul", NULL);
    pl_json_end(&j);
    assert_false(j.overflow);
    assert_string_equal(after_header(&j, "a\\\"b"),
                        ",\"path\":\"C:\\\\x \\\"q\\\"\""
                        ",\"ws\":\"l1\\nl2\\tt\\r\\b\\f\""
                        ",\"ctl\":\"\\u0001\\u001f|\x7f\""
                        ",\"k\\ney\":\"\""
                        ",\"utf8\":\"caf\xc3\xa9 \xe2\x86\x92\""
                        ",\"bad\":\"a\\ufffdb\\ufffd\""
                        ",\"nul\":null}\n");
    /* the only raw newline is the record terminator */
    assert_ptr_equal(strchr(j.buf, '\n'), j.buf + j.len - 1);
}

static void test_nonfinite_is_null(void **state)
{
    (void)state;
    pl_json j;
    pl_json_begin(&j, "x");
    pl_json_num(&j, "nan", NAN);
    pl_json_num(&j, "inf", INFINITY);
    pl_json_num(&j, "ninf", -INFINITY);
    pl_json_num(&j, "ok", -2.5);
    pl_json_end(&j);
    assert_string_equal(after_header(&j, "x"),
                        ",\"nan\":null,\"inf\":null,\"ninf\":null,\"ok\":-2.5}\n");
}

/* Buffer invariants that must hold at every step. */
static void check_valid(const pl_json *j)
{
    assert_true(j->len >= 1 && j->len < (int)sizeof j->buf);
    assert_int_equal((int)strlen(j->buf), j->len);
    assert_int_equal(j->buf[0], '{');
}

static void test_overflow_big_field(void **state)
{
    (void)state;
    static char big[6000];
    memset(big, 'x', sizeof big - 1);
    pl_json j;
    pl_json_begin(&j, "big");
    pl_json_int(&j, "before", 1);
    char prev[sizeof j.buf];
    strcpy(prev, j.buf);
    pl_json_str(&j, "s", big);
    assert_true(j.overflow);
    check_valid(&j);
    assert_string_equal(j.buf, prev); /* the field is dropped whole */
    pl_json_int(&j, "after", 2);      /* later fields are dropped too */
    assert_string_equal(j.buf, prev);
    pl_json_end(&j);
    check_valid(&j);
    assert_int_equal(strncmp(j.buf, prev, strlen(prev)), 0);
    assert_string_equal(j.buf + strlen(prev), "}\n");
}

/* Fields of every length around the end of the buffer, plain and with
 * escapes (two output bytes per input byte): each one either fits whole or
 * leaves the buffer as it was, and the record never exceeds the buffer. */
static void test_overflow_boundary(void **state)
{
    (void)state;
    int longest = 0;
    for (int esc = 0; esc < 2; esc++) {
        int overflows = 0;
        for (int pad = 0; pad < 80; pad++) {
            pl_json j;
            pl_json_begin(&j, "b");
            char fill[4096];
            memset(fill, 'f', 3970 + (size_t)pad);
            fill[3970 + pad] = '\0';
            pl_json_str(&j, "f", fill);
            assert_false(j.overflow);
            char prev[sizeof j.buf];
            strcpy(prev, j.buf);
            pl_json_str(&j, "v", esc ? "\"\"\"\"\"\"\"\"\"\"" : "vvvvvvvvvv");
            check_valid(&j);
            if (j.overflow) {
                overflows++;
                assert_string_equal(j.buf, prev);
            }
            else
                assert_string_equal(j.buf + strlen(prev),
                                    esc ? ",\"v\":\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\""
                                        : ",\"v\":\"vvvvvvvvvv\"");
            pl_json_end(&j);
            check_valid(&j);
            assert_int_equal(j.buf[j.len - 1], '\n');
            assert_int_equal(j.buf[j.len - 2], '}');
            if (!j.overflow && j.len > longest)
                longest = j.len;
        }
        assert_true(overflows > 0 && overflows < 80); /* both outcomes were exercised */
    }
    /* the whole buffer is usable: 4095 bytes of record plus the NUL */
    assert_int_equal(longest, (int)sizeof(((pl_json *)0)->buf) - 1);
}

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    static char text[65536];
    size_t n = fread(text, 1, sizeof text - 1, fp);
    text[n] = '\0';
    fclose(fp);
    return text;
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* Checks text is lines each holding one record of the given event order. */
static void expect_records(const char *text, const char *prefix, const char **events, int n)
{
    size_t plen = strlen(prefix);
    assert_int_equal(strncmp(text, prefix, plen), 0);
    const char *p = text + plen;
    for (int i = 0; i < n; i++) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        char want[64];
        snprintf(want, sizeof want, "{\"event\":\"%s\",", events[i]);
        assert_int_equal(strncmp(p, want, strlen(want)), 0);
        assert_int_equal(nl[-1], '}');
        assert_ptr_equal(memchr(p + 1, '{', (size_t)(nl - p - 1)), NULL); /* one record */
        p = nl + 1;
    }
    assert_string_equal(p, "");
}

static void put_record(pl_metrics *m, const char *event, long step)
{
    pl_json j;
    pl_json_begin(&j, event);
    pl_json_int(&j, "step", step);
    pl_json_end(&j);
    pl_metrics_write(m, &j);
}

static void test_append_keeps_existing(void **state)
{
    (void)state;
    const char *path = tmp_path("metrics.jsonl");
    write_file(path, "{\"event\":\"old\"}\n");
    pl_metrics m;
    assert_int_equal(pl_metrics_open(&m, path), 0);
    assert_non_null(m.file);
    put_record(&m, "start", 0);
    put_record(&m, "epoch", 1);
    /* each record is on disk as soon as it is written */
    const char *ev2[] = {"start", "epoch"};
    expect_records(slurp(path), "{\"event\":\"old\"}\n", ev2, 2);
    pl_metrics_close(&m);
    assert_null(m.file);
    pl_metrics_close(&m); /* harmless twice */

    assert_int_equal(pl_metrics_open(&m, path), 0);
    put_record(&m, "resume", 2);
    pl_metrics_close(&m);
    const char *ev3[] = {"start", "epoch", "resume"};
    expect_records(slurp(path), "{\"event\":\"old\"}\n", ev3, 3);
}

static void test_open_creates(void **state)
{
    (void)state;
    const char *path = tmp_path("metrics.jsonl");
    pl_metrics m;
    assert_int_equal(pl_metrics_open(&m, path), 0);
    put_record(&m, "a", 1);
    pl_metrics_close(&m);
    const char *ev[] = {"a"};
    expect_records(slurp(path), "", ev, 1);
}

/* A line cut short by an earlier crash is terminated before new records. */
static void test_partial_line_is_terminated(void **state)
{
    (void)state;
    const char *path = tmp_path("metrics.jsonl");
    write_file(path, "{\"event\":\"cut");
    pl_metrics m;
    assert_int_equal(pl_metrics_open(&m, path), 0);
    put_record(&m, "next", 1);
    pl_metrics_close(&m);
    const char *ev[] = {"next"};
    expect_records(slurp(path), "{\"event\":\"cut\n", ev, 1);
}

static void test_overflowed_record_not_written(void **state)
{
    (void)state;
    const char *path = tmp_path("metrics.jsonl");
    write_file(path, "");
    pl_metrics m;
    assert_int_equal(pl_metrics_open(&m, path), 0);
    static char big[5000];
    memset(big, 'y', sizeof big - 1);
    pl_json j;
    pl_json_begin(&j, "huge");
    pl_json_str(&j, "s", big);
    pl_json_end(&j);
    assert_true(j.overflow);
    pl_metrics_write(&m, &j);
    put_record(&m, "fine", 1);
    pl_metrics_close(&m);
    const char *ev[] = {"fine"};
    expect_records(slurp(path), "", ev, 1);
}

static void test_unopened_is_noop(void **state)
{
    (void)state;
    const char *path = tmp_path("metrics.jsonl");
    pl_metrics m = {NULL};
    put_record(&m, "ignored", 1);
    pl_metrics_close(&m);
    assert_null(m.file);
    struct stat st;
    assert_int_not_equal(stat(path, &st), 0);
}

static void test_open_failure(void **state)
{
    (void)state;
    const char *bad = tmp_path("no/such/dir/m.jsonl");
    pl_metrics m;
    assert_int_not_equal(pl_metrics_open(&m, bad), 0);
    assert_null(m.file);
    assert_int_not_equal(pl_metrics_open(&m, tmpdir), 0); /* a directory */
    assert_null(m.file);
}

static void expect_duration(double s, const char *want)
{
    char buf[32];
    memset(buf, '#', sizeof buf);
    pl_format_duration(s, buf, (int)sizeof buf);
    if (strcmp(buf, want) != 0)
        fail_msg("duration %.17g gave \"%s\", expected \"%s\"", s, buf, want);
}

static void test_duration(void **state)
{
    (void)state;
    expect_duration(0, "0.0s");
    expect_duration(-0.0, "0.0s");
    expect_duration(3.21, "3.2s");
    expect_duration(12.34, "12.3s");
    expect_duration(59.94, "59.9s");
    expect_duration(59.96, "1m00s"); /* never "60.0s" */
    expect_duration(60, "1m00s");
    expect_duration(185, "3m05s");
    expect_duration(185.6, "3m06s");
    expect_duration(3599.4, "59m59s");
    expect_duration(3599.6, "1h00m"); /* never "60m00s" */
    expect_duration(3600, "1h00m");
    expect_duration(3720, "1h02m");
    expect_duration(3600 + 59 * 60 + 40, "2h00m");
    expect_duration(100 * 3600 + 7 * 60, "100h07m");
    expect_duration(-1, "?");
    expect_duration(-1e-9, "?");
    expect_duration(NAN, "?");
    expect_duration(INFINITY, "?");
    expect_duration(-INFINITY, "?");

    char tiny[3];
    pl_format_duration(185, tiny, (int)sizeof tiny);
    assert_string_equal(tiny, "3m"); /* truncated, still terminated */
    char untouched[2] = {'z', 'z'};
    pl_format_duration(185, untouched, 0);
    assert_int_equal(untouched[0], 'z');
}

#define T(f) cmocka_unit_test_setup_teardown(f, tmpdir_setup, tmpdir_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_text),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_nonfinite_is_null),
        cmocka_unit_test(test_overflow_big_field),
        cmocka_unit_test(test_overflow_boundary),
        T(test_append_keeps_existing),
        T(test_open_creates),
        T(test_partial_line_is_terminated),
        T(test_overflowed_record_not_written),
        T(test_unopened_is_noop),
        T(test_open_failure),
        cmocka_unit_test(test_duration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
