/* SPDX-License-Identifier: GPL-3.0-or-later */
/* `gridems run -c CONFIG`: the long-running service. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "plugin_loader.h"
#include "service.h"

static void usage(FILE *out)
{
    fputs("usage: gridems run -c CONFIG [--check]\n"
          "\n"
          "Run the energy-management service with the JSON config (config/README.md): load the\n"
          "device plugins, take prices, carbon and DR events over MQTT, re-plan on a rolling\n"
          "horizon and drive the devices. Stops cleanly on SIGTERM/SIGINT; SIGHUP re-reads the\n"
          "config (an invalid one is refused and the running one kept).\n"
          "\n"
          "options:\n"
          "  -c, --config FILE   the config file (required)\n"
          "      --check         validate the config without starting anything: the keys, every\n"
          "                      plugin (found, binary compatible, options of the right type;\n"
          "                      init is not called) and state_dir (exists or can be created,\n"
          "                      and is writable); print each problem with its key, and exit\n"
          "  -h, --help          this text\n"
          "\n"
          "exit codes: 0 clean shutdown (or valid config with --check), 1 could not start,\n"
          "            2 bad config or usage\n",
          out);
}

/*
 * Probe that directory `dir` (which exists) accepts a new entry: create and remove a temporary
 * directory in it. Unlike access(W_OK) this also holds for root and read-only file systems.
 */
static int dir_accepts_entry(const char *dir)
{
    char probe[PATH_MAX];
    int n = snprintf(probe, sizeof probe, "%s/.gridems-check.XXXXXX", dir);
    if (n < 0 || (size_t)n >= sizeof probe) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (mkdtemp(probe) == NULL) {
        return -1;
    }
    rmdir(probe);
    return 0;
}

/*
 * state_dir must exist as a writable directory, or be creatable: its nearest existing ancestor
 * must be a directory that accepts a new entry. Nothing is left behind. Returns 0, or -1 with
 * the reason in err.
 */
static int check_state_dir(const char *state_dir, char *err, size_t errlen)
{
    struct stat st;
    if (stat(state_dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "%s exists and is not a directory", state_dir);
            return -1;
        }
        if (dir_accepts_entry(state_dir) != 0) {
            snprintf(err, errlen, "%s is not writable: %s", state_dir, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (errno != ENOENT && errno != ENOTDIR) {
        snprintf(err, errlen, "%s: %s", state_dir, strerror(errno));
        return -1;
    }
    /* Walk up to the nearest ancestor that exists. */
    char anc[PATH_MAX];
    if (snprintf(anc, sizeof anc, "%s", state_dir) >= (int)sizeof anc) {
        snprintf(err, errlen, "%s: path too long", state_dir);
        return -1;
    }
    for (;;) {
        size_t len = strlen(anc);
        while (len > 1 && anc[len - 1] == '/') {
            anc[--len] = '\0';
        }
        char *slash = strrchr(anc, '/');
        if (slash == NULL) {
            snprintf(anc, sizeof anc, ".");
        } else if (slash == anc) {
            anc[1] = '\0';
        } else {
            *slash = '\0';
        }
        if (stat(anc, &st) == 0) {
            break;
        }
        if ((errno != ENOENT && errno != ENOTDIR) || strcmp(anc, ".") == 0 ||
            strcmp(anc, "/") == 0) {
            snprintf(err, errlen, "%s cannot be created: %s: %s", state_dir, anc, strerror(errno));
            return -1;
        }
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s cannot be created: %s is not a directory", state_dir, anc);
        return -1;
    }
    if (dir_accepts_entry(anc) != 0) {
        snprintf(err, errlen, "%s cannot be created: %s is not writable: %s", state_dir, anc,
                 strerror(errno));
        return -1;
    }
    return 0;
}

/* `run --check` past the config's own rules: every plugin and state_dir. Prints each problem
 * on stderr, naming its key; returns the number of problems. */
static int check_deeper(const char *path, const gridems_service_config_t *cfg)
{
    int problems = 0;
    char err[1024], key[96];
    for (int i = 0; i < cfg->n_plugins; i++) {
        const gridems_service_plugin_t *p = &cfg->plugins[i];
        int rc =
            gridems__plugin_check(p->instance, cfg->plugin_dir, key, sizeof key, err, sizeof err);
        if (rc < 0) {
            if (rc == GRIDEMS_ENOENT && !p->explicit_path) {
                snprintf(err, sizeof err, "no plugin \"%s\": %s not found (plugin_dir %s)",
                         p->plugin, p->path, cfg->plugin_dir);
            }
            fprintf(stderr, "gridems run: %s: plugins[%d]%s%s: %s\n", path, i,
                    key[0] != '\0' ? "." : "", key, err);
            problems++;
        }
    }
    if (check_state_dir(cfg->state_dir, err, sizeof err) != 0) {
        fprintf(stderr, "gridems run: %s: state_dir: %s\n", path, err);
        problems++;
    }
    return problems;
}

int gridems__cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"check", no_argument, NULL, 'k'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *path = NULL;
    int check_only = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'k':
            check_only = 1;
            break;
        case 'h':
            usage(stdout);
            return GRIDEMS_EXIT_OK;
        default:
            usage(stderr);
            return GRIDEMS_EXIT_USAGE;
        }
    }
    if (path == NULL || optind != argc) {
        usage(stderr);
        return GRIDEMS_EXIT_USAGE;
    }
    gridems_service_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    char err[1024] = "";
    if (gridems_service_config_load(path, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "gridems run: %s\n", err);
        return GRIDEMS_EXIT_USAGE;
    }
    if (check_only) {
        int problems = check_deeper(path, &cfg);
        if (problems > 0) {
            fprintf(stderr, "gridems run: %s: invalid (%d problem%s)\n", path, problems,
                    problems == 1 ? "" : "s");
            gridems_service_config_free(&cfg);
            return GRIDEMS_EXIT_USAGE;
        }
        printf("%s: valid (%d plugin instances)\n", path, cfg.n_plugins);
        gridems_service_config_free(&cfg);
        return GRIDEMS_EXIT_OK;
    }
    return gridems_service_run(&cfg, path);
}
