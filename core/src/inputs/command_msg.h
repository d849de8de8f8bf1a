/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Operator commands on the cmd topic (docs/service.md, "Commands"): {"cmd":"replan"} and
 * {"cmd":"status"}. The parse is pure, so the fuzz target (tests/fuzz) runs exactly what the
 * service runs. Thread: any; no shared state.
 */
#ifndef GRIDEMS_COMMAND_MSG_H
#define GRIDEMS_COMMAND_MSG_H

#include <stddef.h>

typedef enum {
    GRIDEMS_COMMAND_REPLAN = 0, /* re-plan at once */
    GRIDEMS_COMMAND_STATUS = 1  /* republish the status */
} gridems_command_t;

/*
 * gridems_command_parse: text (borrowed, len bytes, need not be NUL-terminated; the strict JSON
 * policy of json_strict.h applies) into *out.
 * Returns 0; GRIDEMS_EPARSE (not a JSON object) or GRIDEMS_EINVAL (no string "cmd", or an
 * unknown one), with why (may be NULL) naming the rule, e.g.
 *   cmd: unknown command "fly" (known: replan, status)
 */
int gridems_command_parse(const char *text, size_t len, gridems_command_t *out, char *why,
                          size_t whylen);

#endif
