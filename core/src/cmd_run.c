/* SPDX-License-Identifier: GPL-3.0-or-later */
/* `gridems run -c CONFIG`: the long-running service. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
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
          "      --check         validate the config, print the error if any, and exit\n"
          "  -h, --help          this text\n"
          "\n"
          "exit codes: 0 clean shutdown (or valid config with --check), 1 could not start,\n"
          "            2 bad config or usage\n",
          out);
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
        printf("%s: valid (%d plugin instances)\n", path, cfg.n_plugins);
        gridems_service_config_free(&cfg);
        return GRIDEMS_EXIT_OK;
    }
    return gridems_service_run(&cfg, path);
}
