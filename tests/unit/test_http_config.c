/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Unit tests for core/src/config/http_config.h: no section, no server; the defaults (loopback
 * 8080, no auth); the password read from the first line of its file; the scope; errors naming the
 * key.
 */
#include "check_run.h"
#include "http_config.h"
#include "test_util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int read_text(const char *json, gridems_http_config_t *out, char *err, size_t errlen)
{
    cJSON *root = cJSON_Parse(json);
    ck_assert_ptr_nonnull(root);
    int rc = gridems_http_config_read(root, out, err, errlen);
    cJSON_Delete(root);
    return rc;
}

START_TEST(test_defaults)
{
    gridems_http_config_t c;
    char err[256] = "";
    ck_assert_int_eq(read_text("{}", &c, err, sizeof err), 0);
    ck_assert(!c.enabled);
    ck_assert_int_eq(read_text("{\"http\": {}}", &c, err, sizeof err), 0);
    ck_assert(c.enabled);
    ck_assert_str_eq(c.host, "127.0.0.1");
    ck_assert_int_eq(c.port, 8080);
    ck_assert_ptr_null(c.user);
    gridems_http_config_free(&c);
    ck_assert_int_eq(read_text("{\"http\": {\"listen\": \"0.0.0.0:0\"}}", &c, err, sizeof err), 0);
    ck_assert_str_eq(c.host, "0.0.0.0");
    ck_assert_int_eq(c.port, 0);
    gridems_http_config_free(&c);
}
END_TEST

START_TEST(test_password_file)
{
    char *dir = test_make_tmpdir("http-config");
    char path[1200], json[1400];
    snprintf(path, sizeof path, "%s/pass", dir);
    ck_assert_int_eq(test_write_file(path, "correct horse\r\nsecond line\n"), 0);
    snprintf(json, sizeof json,
             "{\"http\": {\"basic_auth\": {\"user\": \"ops\", \"password_file\": \"%s\", "
             "\"scope\": \"write\"}}}",
             path);
    gridems_http_config_t c;
    char err[256] = "";
    ck_assert_int_eq(read_text(json, &c, err, sizeof err), 0);
    ck_assert_str_eq(c.user, "ops");
    ck_assert_str_eq(c.password, "correct horse");
    ck_assert(!c.auth_reads);
    gridems_http_config_free(&c);
    ck_assert_ptr_null(c.password);
    /* An empty first line is no password. */
    ck_assert_int_eq(test_write_file(path, "\nsecret\n"), 0);
    ck_assert_int_ne(read_text(json, &c, err, sizeof err), 0);
    ck_assert_msg(strstr(err, "http.basic_auth.password_file: must hold the password") != NULL,
                  "%s", err);
    test_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_errors)
{
    static const struct {
        const char *json;
        const char *needle;
    } cases[] = {
        {"{\"http\": []}", "http: must be an object"},
        {"{\"http\": {\"listen\": \"127.0.0.1:\"}}", "http.listen: must be"},
        {"{\"http\": {\"listen\": \"127.0.0.1:-1\"}}", "http.listen: must be"},
        {"{\"http\": {\"listen\": \"::1:80\"}}", "http.listen: must be"},
        {"{\"http\": {\"listen\": \"127.0.0.1:80x\"}}", "http.listen: must be"},
        {"{\"http\": {\"basic_auth\": true}}", "http.basic_auth: must be an object"},
        {"{\"http\": {\"basic_auth\": {\"password_file\": \"/x\"}}}", "http.basic_auth.user"},
        {"{\"http\": {\"basic_auth\": {\"user\": \"\", \"password_file\": \"/x\"}}}",
         "http.basic_auth.user"},
        {"{\"http\": {\"basic_auth\": {\"user\": \"u\", \"pass\": \"x\"}}}",
         "http.basic_auth.pass: unknown key; expected one of: user, password_file, scope"},
        /* The same wording as every other section's, with the nearest key when there is one. */
        {"{\"http\": {\"listn\": \"127.0.0.1:8080\"}}",
         "http.listn: unknown key (did you mean \"listen\"?)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gridems_http_config_t c;
        char err[256] = "";
        ck_assert_msg(read_text(cases[i].json, &c, err, sizeof err) != 0, "%s accepted",
                      cases[i].json);
        ck_assert_msg(strstr(err, cases[i].needle) != NULL, "%s: \"%s\", expected \"%s\"",
                      cases[i].json, err, cases[i].needle);
        ck_assert(!c.enabled && c.user == NULL && c.password == NULL);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http_config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_password_file);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
