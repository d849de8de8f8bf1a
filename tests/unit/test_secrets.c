/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Secrets in the config (core/src/host/trust.h, docs/security.md): mqtt.password_file and systemd
 * credentials, the mode rules for a secret file, and ssl:// without a tls section.
 */
#include "check_run.h"
#include "gridems/errors.h"
#include "service_config.h"
#include "test_util.h"
#include "trust.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *dir;

static void setup(void)
{
    dir = test_make_tmpdir("secrets");
    unsetenv("CREDENTIALS_DIRECTORY");
}

static void teardown(void)
{
    test_remove_tree(dir);
    free(dir);
    dir = NULL;
    unsetenv("CREDENTIALS_DIRECTORY");
}

/* Write text to dir/name with mode; return the path (static buffer per call site use). */
static void put(const char *name, const char *text, mode_t mode, char *path, size_t size)
{
    snprintf(path, size, "%s/%s", dir, name);
    ck_assert_int_eq(test_write_file(path, text), 0);
    ck_assert_int_eq(chmod(path, mode), 0);
}

/* Write a config whose mqtt section is mqtt_json and load it. */
static int load_with(const char *mqtt_json, mode_t mode, gridems_service_config_t *cfg, char *err,
                     size_t errlen)
{
    char text[2048], path[1024];
    int n = snprintf(text, sizeof text,
                     "{\"site\":{\"id\":\"s1\"},\"mqtt\":%s,\"state_dir\":\"%s/state\"}", mqtt_json,
                     dir);
    ck_assert_msg(n > 0 && (size_t)n < sizeof text, "config of %d bytes", n);
    put("gridems.json", text, mode, path, sizeof path);
    memset(cfg, 0, sizeof *cfg);
    return gridems_service_config_load(path, cfg, err, errlen);
}

START_TEST(password_file_is_read)
{
    char pw[1024], mqtt[2048], err[1024] = "";
    put("pw", "s3cret-Pa55\n", 0600, pw, sizeof pw);
    snprintf(mqtt, sizeof mqtt,
             "{\"uri\":\"tcp://127.0.0.1:1883\",\"username\":\"gridems\",\"password_file\":\"%s\"}",
             pw);
    gridems_service_config_t cfg;
    ck_assert_msg(load_with(mqtt, 0644, &cfg, err, sizeof err) == 0, "%s", err);
    /* One final line break is not part of the password. */
    ck_assert_str_eq(cfg.mqtt.password, "s3cret-Pa55");
    ck_assert_str_eq(cfg.mqtt.password_file, pw);
    gridems_service_config_free(&cfg);

    /* CRLF, and group-readable (accepted, with a warning). */
    put("pw", "abc\r\n", 0640, pw, sizeof pw);
    ck_assert_msg(load_with(mqtt, 0600, &cfg, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(cfg.mqtt.password, "abc");
    gridems_service_config_free(&cfg);
}
END_TEST

START_TEST(password_file_modes_refused)
{
    static const struct {
        mode_t mode;
        const char *why;
    } bad[] = {{0644, "readable by others"},
               {0604, "readable by others"},
               {0620, "writable by its group"},
               {0602, "writable by others"},
               {0666, "writable by others"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char pw[1024], mqtt[2048], err[1024] = "";
        put("pw", "secret\n", bad[i].mode, pw, sizeof pw);
        snprintf(mqtt, sizeof mqtt,
                 "{\"uri\":\"tcp://h:1\",\"username\":\"u\",\"password_file\":\"%s\"}", pw);
        gridems_service_config_t cfg;
        ck_assert_int_eq(load_with(mqtt, 0600, &cfg, err, sizeof err), GRIDEMS_ECONFIG);
        ck_assert_msg(strstr(err, "mqtt.password_file") != NULL && strstr(err, pw) != NULL &&
                          strstr(err, bad[i].why) != NULL && strstr(err, "chmod 0600") != NULL,
                      "mode %04o: %s", (unsigned)bad[i].mode, err);
        /* The secret never appears in a message. */
        ck_assert_ptr_null(strstr(err, "secret\n"));
        ck_assert_ptr_null(cfg.mqtt.password);
    }
}
END_TEST

START_TEST(password_file_content_rules)
{
    static const struct {
        const char *text;
        const char *why;
    } bad[] = {{"", "is empty"},
               {"\n", "is empty"},
               {"two\nlines\n", "control character (byte 3"},
               {"tab\there", "control character (byte 3"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char pw[1024], mqtt[2048], err[1024] = "";
        put("pw", bad[i].text, 0600, pw, sizeof pw);
        snprintf(mqtt, sizeof mqtt,
                 "{\"uri\":\"tcp://h:1\",\"username\":\"u\",\"password_file\":\"%s\"}", pw);
        gridems_service_config_t cfg;
        ck_assert_int_eq(load_with(mqtt, 0600, &cfg, err, sizeof err), GRIDEMS_ECONFIG);
        ck_assert_msg(strstr(err, bad[i].why) != NULL, "%zu: %s", i, err);
    }
    /* Longer than the limit. */
    char *big = malloc(GRIDEMS_SECRET_MAX_BYTES + 10);
    memset(big, 'x', GRIDEMS_SECRET_MAX_BYTES + 5);
    big[GRIDEMS_SECRET_MAX_BYTES + 5] = '\0';
    char pw[1024], mqtt[2048], err[1024] = "";
    put("pw", big, 0600, pw, sizeof pw);
    free(big);
    snprintf(mqtt, sizeof mqtt,
             "{\"uri\":\"tcp://h:1\",\"username\":\"u\",\"password_file\":\"%s\"}", pw);
    gridems_service_config_t cfg;
    ck_assert_int_eq(load_with(mqtt, 0600, &cfg, err, sizeof err), GRIDEMS_ECONFIG);
    ck_assert_msg(strstr(err, "longer than 4096 bytes") != NULL, "%s", err);
    /* Missing. */
    snprintf(mqtt, sizeof mqtt,
             "{\"uri\":\"tcp://h:1\",\"username\":\"u\",\"password_file\":\"%s/nope\"}", dir);
    ck_assert_int_eq(load_with(mqtt, 0600, &cfg, err, sizeof err), GRIDEMS_ENOENT);
    ck_assert_msg(strstr(err, "/nope") != NULL && strstr(err, "No such file") != NULL, "%s", err);
}
END_TEST

START_TEST(systemd_credential)
{
    char creds[1024], pw[1024], err[1024] = "";
    snprintf(creds, sizeof creds, "%s/creds", dir);
    ck_assert_int_eq(mkdir(creds, 0700), 0);
    put("creds/mqtt-password", "from-systemd\n", 0400, pw, sizeof pw);
    const char *mqtt =
        "{\"uri\":\"tcp://h:1\",\"username\":\"u\",\"password_file\":\"mqtt-password\"}";
    gridems_service_config_t cfg;
    /* Without $CREDENTIALS_DIRECTORY a bare name is refused, saying what to do. */
    ck_assert_int_eq(load_with(mqtt, 0600, &cfg, err, sizeof err), GRIDEMS_ECONFIG);
    ck_assert_msg(strstr(err, "$CREDENTIALS_DIRECTORY is not set") != NULL &&
                      strstr(err, "LoadCredential=mqtt-password:") != NULL,
                  "%s", err);
    setenv("CREDENTIALS_DIRECTORY", creds, 1);
    ck_assert_msg(load_with(mqtt, 0600, &cfg, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(cfg.mqtt.password, "from-systemd");
    gridems_service_config_free(&cfg);
    /* A name cannot leave the directory. */
    const char *escape = "{\"uri\":\"tcp://h:1\",\"username\":\"u\",\"password_file\":\"../pw\"}";
    ck_assert_int_eq(load_with(escape, 0600, &cfg, err, sizeof err), GRIDEMS_ECONFIG);
    ck_assert_msg(strstr(err, "absolute path or a systemd credential name") != NULL, "%s", err);
}
END_TEST

START_TEST(password_rules_in_parse)
{
    gridems_service_config_t cfg;
    char err[1024] = "";
    const char *both =
        "{\"site\":{\"id\":\"s\"},\"state_dir\":\"/x\",\"mqtt\":{\"uri\":\"tcp://h:1\","
        "\"username\":\"u\",\"password\":\"p\",\"password_file\":\"/p\"}}";
    ck_assert_int_eq(gridems_service_config_parse(both, strlen(both), &cfg, err, sizeof err),
                     GRIDEMS_ECONFIG);
    ck_assert_msg(strstr(err, "mqtt.password_file: give mqtt.password or mqtt.password_file, "
                              "not both") != NULL,
                  "%s", err);
    const char *nouser = "{\"site\":{\"id\":\"s\"},\"state_dir\":\"/x\",\"mqtt\":{\"uri\":"
                         "\"tcp://h:1\",\"password_file\":\"/p\"}}";
    ck_assert_int_eq(gridems_service_config_parse(nouser, strlen(nouser), &cfg, err, sizeof err),
                     GRIDEMS_ECONFIG);
    ck_assert_str_eq(err, "mqtt.password_file: needs mqtt.username");
}
END_TEST

START_TEST(ssl_uri_alone_uses_system_store)
{
    gridems_service_config_t cfg;
    char err[1024] = "";
    const char *text = "{\"site\":{\"id\":\"s\"},\"state_dir\":\"/x\",\"mqtt\":{\"uri\":"
                       "\"ssl://broker.example:8883\"}}";
    ck_assert_msg(gridems_service_config_parse(text, strlen(text), &cfg, err, sizeof err) == 0,
                  "%s", err);
    ck_assert(cfg.mqtt.has_tls);
    ck_assert(cfg.mqtt.tls.verify);
    ck_assert_ptr_null(cfg.mqtt.tls.ca_file);
    gridems_service_config_free(&cfg);
    const char *plain = "{\"site\":{\"id\":\"s\"},\"state_dir\":\"/x\",\"mqtt\":{\"uri\":"
                        "\"tcp://broker.example:1883\"}}";
    ck_assert(gridems_service_config_parse(plain, strlen(plain), &cfg, err, sizeof err) == 0);
    ck_assert(!cfg.mqtt.has_tls);
    gridems_service_config_free(&cfg);
}
END_TEST

START_TEST(key_file_mode_checked)
{
    char key[1024], cert[1024], mqtt[3072], err[1024] = "";
    put("client.key", "-----BEGIN PRIVATE KEY-----\n", 0644, key, sizeof key);
    put("client.crt", "-----BEGIN CERTIFICATE-----\n", 0644, cert, sizeof cert);
    snprintf(mqtt, sizeof mqtt,
             "{\"uri\":\"ssl://h:8883\",\"tls\":{\"cert_file\":\"%s\",\"key_file\":\"%s\"}}", cert,
             key);
    gridems_service_config_t cfg;
    ck_assert_int_eq(load_with(mqtt, 0600, &cfg, err, sizeof err), GRIDEMS_ECONFIG);
    ck_assert_msg(strstr(err, "mqtt.tls.key_file") != NULL && strstr(err, key) != NULL &&
                      strstr(err, "readable by others") != NULL,
                  "%s", err);
    ck_assert_int_eq(chmod(key, 0600), 0);
    ck_assert_msg(load_with(mqtt, 0600, &cfg, err, sizeof err) == 0, "%s", err);
    gridems_service_config_free(&cfg);
}
END_TEST

/* Load a config holding an inline password with mode; return what was logged (caller frees). */
static char *load_inline_logged(mode_t mode)
{
    char logpath[1024], err[1024] = "";
    snprintf(logpath, sizeof logpath, "%s/stderr.log", dir);
    fflush(stderr);
    int saved = dup(2);
    FILE *f = fopen(logpath, "w");
    ck_assert(f != NULL && saved >= 0);
    dup2(fileno(f), 2);
    gridems_service_config_t cfg;
    int rc = load_with("{\"uri\":\"tcp://h:1\",\"username\":\"u\",\"password\":\"pw\"}", mode, &cfg,
                       err, sizeof err);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    fclose(f);
    ck_assert_msg(rc == 0, "%s", err);
    gridems_service_config_free(&cfg);
    return test_read_file(logpath, NULL);
}

START_TEST(inline_password_in_readable_config_warned)
{
    char *log = load_inline_logged(0644);
    ck_assert_msg(log != NULL &&
                      strstr(log, "gridems.json: holds an inline mqtt.password but is "
                                  "readable by others (mode 0644)") != NULL &&
                      strstr(log, "mqtt.password_file") != NULL,
                  "no warning: %s", log != NULL ? log : "(none)");
    free(log);
    log = load_inline_logged(0640);
    ck_assert_msg(log != NULL && strstr(log, "readable by its group (mode 0640)") != NULL, "%s",
                  log != NULL ? log : "(none)");
    free(log);
    log = load_inline_logged(0600);
    ck_assert_msg(log != NULL && strstr(log, "inline mqtt.password") == NULL, "%s",
                  log != NULL ? log : "(none)");
    free(log);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("secrets");
    TCase *tc = tcase_create("secrets");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, password_file_is_read);
    tcase_add_test(tc, password_file_modes_refused);
    tcase_add_test(tc, password_file_content_rules);
    tcase_add_test(tc, systemd_credential);
    tcase_add_test(tc, password_rules_in_parse);
    tcase_add_test(tc, ssl_uri_alone_uses_system_store);
    tcase_add_test(tc, key_file_mode_checked);
    tcase_add_test(tc, inline_password_in_readable_config_warned);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
