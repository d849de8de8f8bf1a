/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The config's "http" section (config/README.md): where the HTTP API, the metrics and the
 * dashboard listen, and their optional basic authentication.
 *
 *   "http": {"listen": "127.0.0.1:8080",
 *            "basic_auth": {"user": "ops", "password_file": "/etc/gridems/http.pass",
 *                           "scope": "all" | "write"}}
 *
 * Absent section: no HTTP server. listen defaults to 127.0.0.1:8080 (loopback: another address
 * is the operator's explicit choice); port 0 takes any free port (the log says which). The
 * password is the first line of password_file (read when the config is parsed, so `run --check`
 * and SIGHUP catch a missing file); scope "all" (default) asks for it on every request, "write"
 * only on POST.
 *
 * Threads: any (pure parsing and one file read). Ownership: strings are owned by the struct and
 * freed by gridems_http_config_free().
 */
#ifndef GRIDEMS_HTTP_CONFIG_H
#define GRIDEMS_HTTP_CONFIG_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct gridems_http_config_s {
    bool enabled;    /* the section is present */
    char host[64];   /* IPv4 address */
    int port;        /* 0..65535 */
    char *user;      /* NULL: no authentication */
    char *password;  /* read from password_file */
    bool auth_reads; /* scope "all": GET needs the credentials too */
} gridems_http_config_t;

/*
 * gridems_http_config_read: read root's "http" member (root borrowed) into out (zeroed first).
 * Returns 0, GRIDEMS_ECONFIG with one line in err naming the key and the rule, GRIDEMS_ENOMEM.
 */
int gridems_http_config_read(const cJSON *root, gridems_http_config_t *out, char *err,
                             size_t errlen);

/* gridems_http_config_free: release what out owns and zero it (the password is wiped). */
void gridems_http_config_free(gridems_http_config_t *cfg);

#endif
