/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "command_msg.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "gridems/errors.h"

int gridems_command_parse(const char *text, size_t len, gridems_command_t *out, char *why,
                          size_t whylen)
{
    char scratch[160];
    if (why == NULL || whylen == 0) {
        why = scratch;
        whylen = sizeof scratch;
    }
    why[0] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(root, "cmd");
    int rc = 0;
    if (root == NULL || !cJSON_IsObject(root)) {
        snprintf(why, whylen, "not a JSON object");
        rc = GRIDEMS_EPARSE;
    } else if (!cJSON_IsString(cmd)) {
        snprintf(why, whylen, "cmd: must be a string");
        rc = GRIDEMS_EINVAL;
    } else if (strcmp(cmd->valuestring, "replan") == 0) {
        *out = GRIDEMS_COMMAND_REPLAN;
    } else if (strcmp(cmd->valuestring, "status") == 0) {
        *out = GRIDEMS_COMMAND_STATUS;
    } else {
        snprintf(why, whylen, "cmd: unknown command \"%.64s\" (known: replan, status)",
                 cmd->valuestring);
        rc = GRIDEMS_EINVAL;
    }
    cJSON_Delete(root);
    return rc;
}
