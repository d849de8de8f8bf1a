/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Plugins others could replace are never loaded (core/src/host/trust.h, as sshd's StrictModes): a
 * group- or world-writable plugin file or directory is refused by the real loader, naming the
 * path; fixing the mode makes the same file load.
 */
#include "check_run.h"
#include "gridems/errors.h"
#include "plugin_loader.h"
#include "test_util.h"
#include "trust.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *dir;
static char sub[1024], so[1200];

/* A copy of a real plugin in a directory of the test's own: dir/lib/gridems_test_good.so. */
static void setup(void)
{
    dir = test_make_tmpdir("trust");
    snprintf(sub, sizeof sub, "%s/lib", dir);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    ck_assert_int_eq(chmod(dir, 0755), 0);
    char src[1024];
    snprintf(src, sizeof src, "%s/gridems_test_good.so", GRIDEMS_TEST_PLUGIN_DIR);
    size_t len = 0;
    char *bytes = test_read_file(src, &len);
    ck_assert_msg(bytes != NULL, "cannot read %s", src);
    snprintf(so, sizeof so, "%s/gridems_test_good.so", sub);
    FILE *f = fopen(so, "wb");
    ck_assert(f != NULL);
    ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
    fclose(f);
    free(bytes);
    ck_assert_int_eq(chmod(so, 0755), 0);
}

static void teardown(void)
{
    test_remove_tree(dir);
    free(dir);
}

static int open_plugin(char *err, size_t errlen)
{
    gridems__plugin_lib_t lib;
    int rc = gridems__plugin_open(so, &lib, err, errlen);
    if (rc == 0) {
        gridems__plugin_lib_close(&lib);
    }
    return rc;
}

START_TEST(trusted_copy_loads)
{
    char err[1024] = "";
    ck_assert_msg(open_plugin(err, sizeof err) == 0, "%s", err);
}
END_TEST

START_TEST(writable_file_refused)
{
    static const mode_t modes[] = {0757, 0775, 0777};
    static const char *const who[] = {"others", "its group", "others"};
    for (int i = 0; i < 3; i++) {
        char err[1024] = "";
        ck_assert_int_eq(chmod(so, modes[i]), 0);
        ck_assert_int_eq(open_plugin(err, sizeof err), GRIDEMS_EPLUGIN);
        char want[1400];
        snprintf(want, sizeof want, "file %s is writable by %s", so, who[i]);
        ck_assert_msg(strstr(err, want) != NULL && strstr(err, "chmod go-w") != NULL,
                      "mode %04o: %s", (unsigned)modes[i], err);
    }
    char err[1024] = "";
    ck_assert_int_eq(chmod(so, 0755), 0);
    ck_assert_msg(open_plugin(err, sizeof err) == 0, "%s", err);
}
END_TEST

START_TEST(writable_directory_refused)
{
    char err[1024] = "";
    ck_assert_int_eq(chmod(sub, 0777), 0);
    ck_assert_int_eq(open_plugin(err, sizeof err), GRIDEMS_EPLUGIN);
    char want[1400];
    snprintf(want, sizeof want, "directory %s is writable by others (mode 0777)", sub);
    ck_assert_msg(strstr(err, want) != NULL, "%s", err);
    /* A directory further up counts as much. */
    ck_assert_int_eq(chmod(sub, 0755), 0);
    ck_assert_int_eq(chmod(dir, 0775), 0);
    ck_assert_int_eq(open_plugin(err, sizeof err), GRIDEMS_EPLUGIN);
    snprintf(want, sizeof want, "directory %s is writable by its group", dir);
    ck_assert_msg(strstr(err, want) != NULL, "%s", err);
    /* The sticky bit makes a world-writable directory safe only when root owns it (/tmp). */
    ck_assert_int_eq(chmod(dir, 01777), 0);
    ck_assert_int_eq(open_plugin(err, sizeof err), geteuid() == 0 ? 0 : GRIDEMS_EPLUGIN);
    ck_assert_int_eq(chmod(dir, 0755), 0);
    ck_assert_msg(open_plugin(err, sizeof err) == 0, "%s", err);
}
END_TEST

START_TEST(symlink_target_checked)
{
    /* A trusted link to a file in a world-writable directory: the resolved path is refused. */
    char open_dir[1200], target[1300];
    snprintf(open_dir, sizeof open_dir, "%s/open", dir);
    ck_assert_int_eq(mkdir(open_dir, 0755), 0);
    snprintf(target, sizeof target, "%s/real.so", open_dir);
    ck_assert_int_eq(rename(so, target), 0);
    ck_assert_int_eq(symlink(target, so), 0);
    char err[1024] = "";
    ck_assert_msg(open_plugin(err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(chmod(open_dir, 0777), 0);
    ck_assert_int_eq(open_plugin(err, sizeof err), GRIDEMS_EPLUGIN);
    ck_assert_msg(strstr(err, open_dir) != NULL && strstr(err, "writable by others") != NULL, "%s",
                  err);
}
END_TEST

START_TEST(owner_checked)
{
    if (geteuid() != 0) {
        return; /* Only root can give a file away; as a user this rule is what chown prevents. */
    }
    char err[1024] = "";
    ck_assert_int_eq(chown(so, 12345, 12345), 0);
    ck_assert_int_eq(open_plugin(err, sizeof err), GRIDEMS_EPLUGIN);
    ck_assert_msg(strstr(err, "is owned by uid 12345") != NULL && strstr(err, so) != NULL, "%s",
                  err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("plugin_trust");
    TCase *tc = tcase_create("trust");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, trusted_copy_loads);
    tcase_add_test(tc, writable_file_refused);
    tcase_add_test(tc, writable_directory_refused);
    tcase_add_test(tc, symlink_target_checked);
    tcase_add_test(tc, owner_checked);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
