/* Reading metrics.jsonl records: what metrics.c writes reads back; JSON's
 * grammar, escapes and surrogate pairs; malformed lines refused with the
 * column named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "plastic/jsonl.h"
#include "plastic/metrics.h"

#include "support.h"

#include <math.h>
#include <string.h>

static char why[512];

static void parse_ok(const char *line, struct pl_jsonl_object *o)
{
    if (pl_jsonl_parse(line, strlen(line), o, why, sizeof why))
        fail_msg("'%s' refused: %s", line, why);
}

static void test_epoch_record(void **state)
{
    (void)state;
    struct pl_jsonl_object o;
    parse_ok("{\"event\":\"epoch\",\"time\":1732990000.123,\"phase\":\"train\",\"epoch\":3,"
             "\"lr\":0.0009,\"loss\":0.14,\"train_error\":4.18,\"valid_error\":null,"
             "\"test_error\":-4.09e-1,\"flag\":true,\"off\":false}\n",
             &o);
    assert_int_equal(o.n, 11);
    assert_string_equal(pl_jsonl_string(&o, "event"), "epoch");
    assert_string_equal(pl_jsonl_string(&o, "phase"), "train");
    assert_true(pl_jsonl_number(&o, "epoch") == 3);
    assert_true(pl_jsonl_number(&o, "lr") == 0.0009);
    assert_true(pl_jsonl_number(&o, "test_error") == -0.409);
    assert_true(isnan(pl_jsonl_number(&o, "valid_error")));
    assert_int_equal(pl_jsonl_get(&o, "valid_error")->kind, PL_JSONL_NULL);
    assert_true(isnan(pl_jsonl_number(&o, "absent")));
    assert_null(pl_jsonl_get(&o, "absent"));
    assert_null(pl_jsonl_string(&o, "epoch")); /* a number, not a string */
    assert_true(isnan(pl_jsonl_number(&o, "phase")));
    assert_int_equal(pl_jsonl_get(&o, "flag")->kind, PL_JSONL_TRUE);
    assert_int_equal(pl_jsonl_get(&o, "off")->kind, PL_JSONL_FALSE);
    assert_string_equal(o.fields[0].key, "event"); /* in the line's order */
    assert_string_equal(o.fields[10].key, "off");
    pl_jsonl_free(&o);

    /* spaces anywhere between tokens, an empty object, a repeated key (the last counts) */
    parse_ok(" \t{ \"a\" : 1 , \"b\":\"x\",\"a\":2 }\r\n", &o);
    assert_int_equal(o.n, 3);
    assert_true(pl_jsonl_number(&o, "a") == 2);
    pl_jsonl_free(&o);
    parse_ok("{}", &o);
    assert_int_equal(o.n, 0);
    pl_jsonl_free(&o);

    /* the line need not end in a NUL: only len bytes are read */
    const char cut[] = "{\"n\":12}{garbage";
    assert_int_equal(pl_jsonl_parse(cut, 8, &o, why, sizeof why), 0);
    assert_true(pl_jsonl_number(&o, "n") == 12);
    pl_jsonl_free(&o);
}

/* What pl_json_* writes reads back to the same values. */
static void test_round_trip(void **state)
{
    (void)state;
    const char *strings[] = {"plain", "quote \" backslash \\ slash /", "tab\tnewline\ncr\r",
                             "bell\x07 esc\x1b", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", ""};
    const double numbers[] = {0, -0.5, 1e-300, 123456789.125, 4.18, -7e22};
    pl_json j;
    pl_json_begin(&j, "test");
    char key[16];
    for (int i = 0; i < 6; i++) {
        snprintf(key, sizeof key, "s%d", i);
        pl_json_str(&j, key, strings[i]);
        snprintf(key, sizeof key, "n%d", i);
        pl_json_num(&j, key, numbers[i]);
    }
    pl_json_int(&j, "big", 9007199254740992L);
    pl_json_num(&j, "nan", NAN);
    pl_json_str(&j, "bad utf8", "a\xff" "b");
    pl_json_end(&j);
    struct pl_jsonl_object o;
    parse_ok(j.buf, &o);
    assert_string_equal(pl_jsonl_string(&o, "event"), "test");
    for (int i = 0; i < 6; i++) {
        snprintf(key, sizeof key, "s%d", i);
        assert_string_equal(pl_jsonl_string(&o, key), strings[i]);
        snprintf(key, sizeof key, "n%d", i);
        check_close(pl_jsonl_number(&o, key), numbers[i], 0, 1e-9, key, i);
    }
    assert_true(pl_jsonl_number(&o, "big") == 9007199254740992.0);
    assert_int_equal(pl_jsonl_get(&o, "nan")->kind, PL_JSONL_NULL);
    assert_string_equal(pl_jsonl_string(&o, "bad utf8"), "a\xef\xbf\xbd" "b"); /* U+FFFD */
    pl_jsonl_free(&o);
}

static void test_escapes(void **state)
{
    (void)state;
    struct pl_jsonl_object o;
    parse_ok("{\"k\\u00e9y\":\"\\u0041\\u00e9\\u20ac\\ud83d\\ude00\\b\\f\\/\"}", &o);
    assert_string_equal(o.fields[0].key, "k\xc3\xa9y");
    assert_string_equal(o.fields[0].string, "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\b\f/");
    pl_jsonl_free(&o);
    /* raw bytes of 0x80 and above pass through */
    parse_ok("{\"x\":\"\xff\xfe\"}", &o);
    assert_string_equal(pl_jsonl_string(&o, "x"), "\xff\xfe");
    pl_jsonl_free(&o);
}

static void refused(const char *line, size_t len, const char *message)
{
    struct pl_jsonl_object o;
    why[0] = '\0';
    if (pl_jsonl_parse(line, len, &o, why, sizeof why) == 0)
        fail_msg("'%s' was accepted", line);
    assert_int_equal(o.n, 0);
    assert_null(o.fields);
    pl_jsonl_free(&o);
    assert_contains(why, message);
}

#define REFUSED(line, message) refused(line, strlen(line), message)

static void test_malformed(void **state)
{
    (void)state;
    REFUSED("", "column 1: expected '{' (a record is one JSON object), found the end of the line");
    REFUSED("[1]", "column 1: expected '{'");
    REFUSED("{\"a\":1", "column 7: expected ',' or '}', found the end of the line");
    REFUSED("{\"a\":1,}", "column 8: expected a key in quotes, found '}'");
    REFUSED("{a:1}", "column 2: expected a key in quotes, found 'a'");
    REFUSED("{\"a\" 1}", "column 6: expected ':' after the key \"a\", found '1'");
    REFUSED("{\"a\":}", "column 6: expected a value, found '}'");
    REFUSED("{\"a\":1}x", "column 8: 'x' after the end of the object");
    REFUSED("{\"a\":1}{\"b\":2}", "column 8: '{' after the end of the object");
    REFUSED("{\"a\":{\"b\":1}}", "column 6: nested objects and arrays are not read");
    REFUSED("{\"a\":[1]}", "nested objects and arrays");
    REFUSED("{\"a\":tru}", "column 6: expected a value, found 't'");
    REFUSED("{\"a\":nul", "expected a value");
    REFUSED("{\"a\":NaN}", "column 6: expected a value, found 'N'");
    REFUSED("{\"a\":Infinity}", "expected a value");
    REFUSED("{\"a\":+1}", "expected a value, found '+'");
    REFUSED("{\"a\":01}", "column 7: expected ',' or '}', found '1'");
    REFUSED("{\"a\":1.}", "column 8: expected a digit after '.', found '}'");
    REFUSED("{\"a\":.5}", "expected a value, found '.'");
    REFUSED("{\"a\":-}", "column 7: expected a digit, found '}'");
    REFUSED("{\"a\":1e}", "column 8: expected a digit in the exponent");
    REFUSED("{\"a\":0x10}", "column 7: expected ',' or '}', found 'x'");
    REFUSED("{\"a\":\"open}", "the string is not closed");
    REFUSED("{\"a\":\"x\\", "the string is not closed");
    REFUSED("{\"a\":\"\\q\"}", "unknown escape: backslash, then 'q'");
    REFUSED("{\"a\":\"\\u12G4\"}", "expected 4 hex digits after \\u, found 'G'");
    REFUSED("{\"a\":\"\\u0000\"}", "column 7: \\u0000 (a NUL character) is not supported");
    REFUSED("{\"a\":\"\\ud83d\"}", "column 7: \\uD83D is the first half of a surrogate pair, alone");
    REFUSED("{\"a\":\"\\ud83d\\u0041\"}", "not followed by the second half");
    REFUSED("{\"a\":\"\\ude00\"}", "second half of a surrogate pair, alone");
    REFUSED("{\"a\":\"tab\there\"}", "column 10: control character 0x09 in a string");
    REFUSED("{\"a\x01\":1}", "control character 0x01");
    refused("{\"a\":1,\0}", 9, "column 8: expected a key in quotes, found byte 0x00");
    refused("{\"a\":1}\0", 8, "column 8: byte 0x00 after the end of the object");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_epoch_record),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
