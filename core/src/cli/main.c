/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The gridems binary: a table of subcommands. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "gridems/optimizer.h"

typedef struct command_s {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command_t;

static const command_t commands[] = {
    {"run", gridems__cmd_run, "run the service (gridems run -c CONFIG)"},
    {"backtest", gridems__cmd_backtest,
     "run the service over real prices in simulated time and compare"},
    {"solve", gridems__cmd_solve, "solve one scenario file and write its schedule"},
    {"plugin-info", gridems__cmd_plugin_info, "print a device plugin's identity and options"},
};

static void usage(FILE *out)
{
    fprintf(out,
            "gridems %s: grid-interactive energy management for AI data centers\n\n"
            "usage: gridems COMMAND [options]   (gridems COMMAND --help for more)\n\n"
            "commands:\n",
            GRIDEMS_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    }
}

int main(int argc, char **argv)
{
    /* Every command but plugin-info solves, the service and the backtest again and again: keep
     * what one solve frees for the next (optimizer.h). Without it only slower. */
    (void)gridems_optimizer_keep_memory();
    if (argc < 2) {
        usage(stderr);
        return GRIDEMS_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return GRIDEMS_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("gridems %s\n", GRIDEMS_VERSION);
        return GRIDEMS_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "gridems: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return GRIDEMS_EXIT_USAGE;
}
