/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The default plugin directory, for a build-tree binary and for an installed one. */
#include "plugin_dir.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Set by core/CMakeLists.txt; these fallbacks only matter to a build outside it. */
#ifndef GRIDEMS_BUILD_DIR
#define GRIDEMS_BUILD_DIR ""
#endif
#ifndef GRIDEMS_INSTALL_PLUGIN_DIR
#define GRIDEMS_INSTALL_PLUGIN_DIR "/usr/local/lib/gridems/plugins"
#endif
#ifndef GRIDEMS_PLUGIN_DIR_FROM_BINDIR
#define GRIDEMS_PLUGIN_DIR_FROM_BINDIR "../lib/gridems/plugins"
#endif

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char dir[PATH_MAX + 64];

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void compute(void)
{
    snprintf(dir, sizeof dir, "%s", GRIDEMS_INSTALL_PLUGIN_DIR);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        return;
    }
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL) {
        return;
    }
    *slash = '\0';
    char exe_dir[PATH_MAX], build_dir[PATH_MAX];
    if (realpath(exe[0] != '\0' ? exe : "/", exe_dir) == NULL) {
        return;
    }
    if (GRIDEMS_BUILD_DIR[0] != '\0' && realpath(GRIDEMS_BUILD_DIR, build_dir) != NULL &&
        strcmp(exe_dir, build_dir) == 0) {
        snprintf(dir, sizeof dir, "%s/plugins", GRIDEMS_BUILD_DIR);
        return;
    }
    char rel[PATH_MAX + 64];
    int len = snprintf(rel, sizeof rel, "%s/%s", exe_dir, GRIDEMS_PLUGIN_DIR_FROM_BINDIR);
    char resolved[PATH_MAX];
    if (len > 0 && (size_t)len < sizeof rel && is_dir(rel) && realpath(rel, resolved) != NULL) {
        snprintf(dir, sizeof dir, "%s", resolved);
    }
}

const char *gridems__default_plugin_dir(void)
{
    pthread_once(&once, compute);
    return dir;
}
