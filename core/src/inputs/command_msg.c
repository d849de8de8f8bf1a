/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "command_msg.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "gridems/errors.h"
#include "json_strict.h"

int gridems_command_parse(const char *text, size_t len, gridems_command_t *out, char *why,
                          size_t whylen)
{
    char scratch[256];
    if (why == NULL || whylen == 0) {
        why = scratch;
        whylen = sizeof scratch;
    }
    why[0] = '\0';
    cJSON *root = NULL;
    /* The one strict policy of every input (json_strict.h): no trailing data, no NUL, no
     * duplicate keys, UTF-8 only. */
    int rc = gridems_json_parse_strict(text, len, &root, why, whylen);
    if (rc != 0) {
        return rc;
    }
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(root, "cmd");
    if (!cJSON_IsObject(root)) {
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
        char name[96];
        gridems_log_safe(cmd->valuestring, 32, name, sizeof name);
        snprintf(why, whylen, "cmd: unknown command \"%s\" (known: replan, status)", name);
        rc = GRIDEMS_EINVAL;
    }
    cJSON_Delete(root);
    return rc;
}
