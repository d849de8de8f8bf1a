/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * `gridems run --check` against the real binary: a good config is valid (exit 0); a missing
 * plugin path, an unknown plugin, a bad plugin option and a state_dir that cannot be created
 * each exit 2 with a line naming the config key. The configs are examples/sakai-site.json (which
 * gives no plugin_dir, so the build-tree default is exercised too) with one thing changed.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "test_util.h"

static char *tmp;

static void setup(void)
{
    tmp = test_make_tmpdir("run_check");
}

static void teardown(void)
{
    test_remove_tree(tmp);
    free(tmp);
    tmp = NULL;
}

/* The example site with state_dir inside the test's directory. Caller frees with cJSON_Delete. */
static cJSON *base_config(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/examples/sakai-site.json", GRIDEMS_TEST_SOURCE_DIR);
    char *text = test_read_file(path, NULL);
    ck_assert_ptr_nonnull(text);
    cJSON *root = cJSON_Parse(text);
    free(text);
    ck_assert_ptr_nonnull(root);
    char state[1024];
    snprintf(state, sizeof state, "%s/state", tmp);
    cJSON_ReplaceItemInObjectCaseSensitive(root, "state_dir", cJSON_CreateString(state));
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(root, "plugin_dir"));
    return root;
}

static cJSON *plugin_at(cJSON *root, int i)
{
    cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "plugins"), i);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* Write root, run `gridems run --check -c` on it, return the exit status; *err gets stderr. */
static int run_check(cJSON *root, char **out, char **err)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/gridems.json", tmp);
    char *text = cJSON_Print(root);
    ck_assert_ptr_nonnull(text);
    ck_assert_int_eq(test_write_file(path, text), 0);
    free(text);
    char *argv[] = {GRIDEMS_TEST_BINARY, "run", "--check", "-c", path, NULL};
    return test_run_capture(argv, out, err);
}

static void expect_problem(cJSON *root, const char *key, const char *why)
{
    char *out = NULL, *err = NULL;
    int rc = run_check(root, &out, &err);
    ck_assert_msg(rc == 2, "exit %d, stderr: %s", rc, err != NULL ? err : "");
    ck_assert_msg(err != NULL && strstr(err, key) != NULL, "no \"%s\" in: %s", key,
                  err != NULL ? err : "");
    ck_assert_msg(strstr(err, why) != NULL, "no \"%s\" in: %s", why, err);
    ck_assert_msg(strstr(err, "invalid (1 problem)") != NULL, "stderr: %s", err);
    free(out);
    free(err);
}

START_TEST(good_config_is_valid)
{
    cJSON *root = base_config();
    char *out = NULL, *err = NULL;
    int rc = run_check(root, &out, &err);
    ck_assert_msg(rc == 0, "exit %d, stderr: %s", rc, err != NULL ? err : "");
    ck_assert_ptr_nonnull(strstr(out, "valid (4 plugin instances)"));
    /* The check probes state_dir; it does not create it. */
    char state[1024];
    snprintf(state, sizeof state, "%s/state", tmp);
    ck_assert_ptr_null(test_read_file(state, NULL));
    free(out);
    free(err);
    cJSON_Delete(root);
}
END_TEST

START_TEST(missing_plugin_path)
{
    cJSON *root = base_config();
    char so[1024];
    snprintf(so, sizeof so, "%s/no_such_plugin.so", tmp);
    cJSON_AddItemToObject(plugin_at(root, 1), "path", cJSON_CreateString(so));
    expect_problem(root, "plugins[1].path: ", "cannot be opened");
    cJSON_Delete(root);
}
END_TEST

START_TEST(unknown_plugin)
{
    cJSON *root = base_config();
    cJSON_ReplaceItemInObjectCaseSensitive(plugin_at(root, 2), "plugin",
                                           cJSON_CreateString("meter_simm"));
    expect_problem(root, "plugins[2].plugin: ", "no plugin \"meter_simm\"");
    cJSON_Delete(root);
}
END_TEST

START_TEST(bad_plugin_option)
{
    cJSON *root = base_config();
    cJSON *opts = cJSON_GetObjectItemCaseSensitive(plugin_at(root, 0), "options");
    cJSON_ReplaceItemInObjectCaseSensitive(opts, "capacity_kwh", cJSON_CreateString("big"));
    expect_problem(root, "plugins[0].options.capacity_kwh: ", "expected a number, got string");
    cJSON_Delete(root);
}
END_TEST

START_TEST(unknown_and_missing_options)
{
    cJSON *root = base_config();
    cJSON *opts = cJSON_GetObjectItemCaseSensitive(plugin_at(root, 0), "options");
    cJSON_AddItemToObject(opts, "capacity_kwhh", cJSON_CreateNumber(1));
    expect_problem(root, "plugins[0].options.capacity_kwhh: ", "unknown option");
    cJSON_DeleteItemFromObjectCaseSensitive(opts, "capacity_kwhh");
    cJSON_DeleteItemFromObjectCaseSensitive(opts, "capacity_kwh");
    expect_problem(root, "plugins[0].options.capacity_kwh: ", "missing required option");
    cJSON_Delete(root);
}
END_TEST

START_TEST(state_dir_cannot_be_created)
{
    /* Tests run as root, where permissions do not stop a write: a parent that is a regular file
     * makes the directory impossible to create for anyone. */
    cJSON *root = base_config();
    char file[1024], state[1100];
    snprintf(file, sizeof file, "%s/a-file", tmp);
    ck_assert_int_eq(test_write_file(file, "x"), 0);
    snprintf(state, sizeof state, "%s/state", file);
    cJSON_ReplaceItemInObjectCaseSensitive(root, "state_dir", cJSON_CreateString(state));
    expect_problem(root, "state_dir: ", "is not a directory");
    cJSON_Delete(root);
}
END_TEST

START_TEST(every_problem_is_reported)
{
    cJSON *root = base_config();
    cJSON_ReplaceItemInObjectCaseSensitive(plugin_at(root, 2), "plugin",
                                           cJSON_CreateString("meter_simm"));
    cJSON_ReplaceItemInObjectCaseSensitive(root, "state_dir", cJSON_CreateString("/proc/x/y"));
    char *out = NULL, *err = NULL;
    int rc = run_check(root, &out, &err);
    ck_assert_int_eq(rc, 2);
    ck_assert_ptr_nonnull(strstr(err, "plugins[2].plugin: "));
    ck_assert_ptr_nonnull(strstr(err, "state_dir: "));
    ck_assert_ptr_nonnull(strstr(err, "invalid (2 problems)"));
    free(out);
    free(err);
    cJSON_Delete(root);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("run_check");
    TCase *tc = tcase_create("check");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, good_config_is_valid);
    tcase_add_test(tc, missing_plugin_path);
    tcase_add_test(tc, unknown_plugin);
    tcase_add_test(tc, bad_plugin_option);
    tcase_add_test(tc, unknown_and_missing_options);
    tcase_add_test(tc, state_dir_cannot_be_created);
    tcase_add_test(tc, every_problem_is_reported);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
