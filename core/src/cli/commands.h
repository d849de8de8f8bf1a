/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The subcommands of the gridems binary. Each takes the arguments after the subcommand name
 * (argv[0] is the subcommand) and returns the process exit code.
 * Exit codes: 0 success, 1 failure at run time (solver, I/O), 2 bad input or usage.
 */
#ifndef GRIDEMS_COMMANDS_H
#define GRIDEMS_COMMANDS_H

enum { GRIDEMS_EXIT_OK = 0, GRIDEMS_EXIT_FAILURE = 1, GRIDEMS_EXIT_USAGE = 2 };

int gridems__cmd_solve(int argc, char **argv);
int gridems__cmd_plugin_info(int argc, char **argv);
int gridems__cmd_run(int argc, char **argv);
int gridems__cmd_backtest(int argc, char **argv);

#endif
