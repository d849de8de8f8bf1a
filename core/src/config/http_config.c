/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The "http" config section; see http_config.h. */
#include "http_config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_reader.h"
#include "file_util.h"
#include "gridems/errors.h"

/* A password file is one short line; anything larger is the wrong file. */
enum { MAX_PASSWORD_FILE = 4096 };

/* "HOST:PORT" with an IPv4 HOST. */
static int read_listen(const char *text, gridems_http_config_t *out, gridems_cfg_t *c)
{
    const char *colon = strrchr(text, ':');
    char *end = NULL;
    long port = colon != NULL ? strtol(colon + 1, &end, 10) : -1;
    size_t host_len = colon != NULL ? (size_t)(colon - text) : 0;
    struct in_addr addr;
    char host[64] = "";
    if (host_len > 0 && host_len < sizeof host) {
        memcpy(host, text, host_len);
    }
    if (colon == NULL || end == colon + 1 || *end != '\0' || port < 0 || port > 65535 ||
        host[0] == '\0' || inet_pton(AF_INET, host, &addr) != 1) {
        return gridems_cfg_fail(
            c, "http.listen",
            "must be \"IPV4:PORT\" with a port 0..65535 (e.g. \"127.0.0.1:8080\"), got "
            "\"%.80s\"",
            text);
    }
    snprintf(out->host, sizeof out->host, "%s", host);
    out->port = (int)port;
    return 0;
}

static int read_password(const char *path, gridems_http_config_t *out, gridems_cfg_t *c)
{
    char *text = NULL;
    size_t len = 0;
    int rc = gridems_read_file(path, &text, &len);
    if (rc != 0) {
        return gridems_cfg_fail(c, "http.basic_auth.password_file", "cannot read \"%.200s\": %s",
                                path, gridems_strerror(rc));
    }
    text[strcspn(text, "\r\n")] = '\0';
    size_t n = strlen(text);
    if (len > MAX_PASSWORD_FILE || n == 0) {
        memset(text, 0, len);
        free(text);
        return gridems_cfg_fail(
            c, "http.basic_auth.password_file",
            "must hold the password on its first line (1 to %d bytes), \"%.200s\" %s",
            MAX_PASSWORD_FILE, path, n == 0 ? "has an empty first line" : "is too large");
    }
    out->password = text;
    return 0;
}

static int read_auth(const cJSON *auth, gridems_http_config_t *out, gridems_cfg_t *c)
{
    static const char *const keys[] = {"user", "password_file", "scope", NULL};
    if (!cJSON_IsObject(auth)) {
        return gridems_cfg_fail(c, "http.basic_auth", "must be an object");
    }
    int rc = gridems_cfg_check_keys(c, auth, "http.basic_auth", keys);
    if (rc != 0) {
        return rc;
    }
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(auth, "user");
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(auth, "password_file");
    const cJSON *scope = cJSON_GetObjectItemCaseSensitive(auth, "scope");
    if (!cJSON_IsString(user) || user->valuestring[0] == '\0' ||
        strchr(user->valuestring, ':') != NULL || strlen(user->valuestring) > 64) {
        return gridems_cfg_fail(c, "http.basic_auth.user",
                                "required: a string of 1 to 64 characters without ':'");
    }
    if (!cJSON_IsString(file) || file->valuestring[0] == '\0') {
        return gridems_cfg_fail(c, "http.basic_auth.password_file",
                                "required: the path of a file whose first line is the password");
    }
    out->auth_reads = true;
    if (scope != NULL) {
        if (!cJSON_IsString(scope) ||
            (strcmp(scope->valuestring, "all") != 0 && strcmp(scope->valuestring, "write") != 0)) {
            return gridems_cfg_fail(c, "http.basic_auth.scope", "must be \"all\" or \"write\"");
        }
        out->auth_reads = strcmp(scope->valuestring, "all") == 0;
    }
    out->user = strdup(user->valuestring);
    if (out->user == NULL) {
        return GRIDEMS_ENOMEM;
    }
    return read_password(file->valuestring, out, c);
}

int gridems_http_config_read(const cJSON *root, gridems_http_config_t *out, char *err,
                             size_t errlen)
{
    static const char *const keys[] = {"listen", "basic_auth", NULL};
    gridems_cfg_t reader = {.err = err, .errlen = errlen}, *c = &reader;
    memset(out, 0, sizeof *out);
    const cJSON *http = cJSON_GetObjectItemCaseSensitive(root, "http");
    if (http == NULL) {
        return 0;
    }
    if (!cJSON_IsObject(http)) {
        return gridems_cfg_fail(c, "http",
                                "must be an object (e.g. {\"listen\": \"127.0.0.1:8080\"})");
    }
    int rc = gridems_cfg_check_keys(c, http, "http", keys);
    if (rc != 0) {
        return rc;
    }
    out->enabled = true;
    const cJSON *listen = cJSON_GetObjectItemCaseSensitive(http, "listen");
    if (listen != NULL && !cJSON_IsString(listen)) {
        rc = gridems_cfg_fail(c, "http.listen", "must be a string such as \"127.0.0.1:8080\"");
    } else {
        rc = read_listen(listen != NULL ? listen->valuestring : "127.0.0.1:8080", out, c);
    }
    const cJSON *auth = cJSON_GetObjectItemCaseSensitive(http, "basic_auth");
    if (rc == 0 && auth != NULL) {
        rc = read_auth(auth, out, c);
    }
    if (rc != 0) {
        gridems_http_config_free(out);
    }
    return rc;
}

void gridems_http_config_free(gridems_http_config_t *cfg)
{
    if (cfg->password != NULL) {
        memset(cfg->password, 0, strlen(cfg->password));
    }
    free(cfg->password);
    free(cfg->user);
    memset(cfg, 0, sizeof *cfg);
}
