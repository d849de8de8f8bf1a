/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "trust.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error_text.h"
#include "gridems/errors.h"
#include "log.h"

/* ---- ## Secrets ---- */

int gridems__secret_path(const char *value, const char *key, char **out, char *err, size_t errlen)
{
    *out = NULL;
    if (value[0] == '/') {
        *out = strdup(value);
        return *out != NULL ? 0 : GRIDEMS_ENOMEM;
    }
    /* A credential name must stay inside the credentials directory. */
    if (value[0] == '\0' || strchr(value, '/') != NULL || strcmp(value, ".") == 0 ||
        strcmp(value, "..") == 0) {
        gridems_set_err(
            err, errlen,
            "%s: must be an absolute path or a systemd credential name (no '/'), got \"%.80s\"",
            key, value);
        return GRIDEMS_ECONFIG;
    }
    const char *dir = getenv("CREDENTIALS_DIRECTORY");
    if (dir == NULL || dir[0] != '/') {
        gridems_set_err(err, errlen,
                        "%s: \"%.80s\" is a credential name, but $CREDENTIALS_DIRECTORY is not set "
                        "(give an absolute path, or LoadCredential=%.80s:FILE in the unit)",
                        key, value, value);
        return GRIDEMS_ECONFIG;
    }
    size_t n = strlen(dir) + 1 + strlen(value) + 1;
    *out = malloc(n);
    if (*out == NULL) {
        return GRIDEMS_ENOMEM;
    }
    snprintf(*out, n, "%s/%s", dir, value);
    return 0;
}

static int check_secret_mode(const struct stat *st, const char *path, const char *key, char *err,
                             size_t errlen)
{
    unsigned mode = (unsigned)st->st_mode & 07777;
    if (!S_ISREG(st->st_mode)) {
        gridems_set_err(err, errlen, "%s: %s is not a regular file", key, path);
        return GRIDEMS_ECONFIG;
    }
    if ((st->st_mode & (S_IRWXO | S_IWGRP)) != 0) {
        const char *why = (st->st_mode & S_IWOTH) != 0   ? "writable by others"
                          : (st->st_mode & S_IRWXO) != 0 ? "readable by others"
                                                         : "writable by its group";
        gridems_set_err(err, errlen,
                        "%s: %s is %s (mode %04o); a secret must be readable by the service only: "
                        "chmod 0600 it (or 0640 with the service's group)",
                        key, path, why, mode);
        return GRIDEMS_ECONFIG;
    }
    if ((st->st_mode & S_IRGRP) != 0) {
        gridems_log_warn("%s: %s is readable by its group (mode %04o, gid %ld); make sure only "
                         "the service is in that group",
                         key, path, mode, (long)st->st_gid);
    }
    return 0;
}

int gridems__secret_check(const char *path, const char *key, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        int e = errno;
        gridems_set_err(err, errlen, "%s: cannot use %s: %s", key, path, strerror(e));
        return e == ENOENT ? GRIDEMS_ENOENT : GRIDEMS_ECONFIG;
    }
    return check_secret_mode(&st, path, key, err, errlen);
}

int gridems__secret_read(const char *path, const char *key, char **out, char *err, size_t errlen)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        gridems_set_err(err, errlen, "%s: cannot open %s: %s", key, path, strerror(e));
        return e == ENOENT ? GRIDEMS_ENOENT : GRIDEMS_EIO;
    }
    /* The mode of the file opened, not of whatever the name points at a moment later. */
    struct stat st;
    int rc = fstat(fd, &st) == 0 ? check_secret_mode(&st, path, key, err, errlen) : GRIDEMS_EIO;
    char buf[GRIDEMS_SECRET_MAX_BYTES + 2];
    size_t len = 0;
    while (rc == 0 && len < sizeof buf) {
        ssize_t n = read(fd, buf + len, sizeof buf - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            gridems_set_err(err, errlen, "%s: cannot read %s: %s", key, path, strerror(errno));
            rc = GRIDEMS_EIO;
        }
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
    }
    close(fd);
    if (rc == 0 && len > 0 && buf[len - 1] == '\n') {
        len--;
        if (len > 0 && buf[len - 1] == '\r') {
            len--;
        }
    }
    if (rc == 0 && len > GRIDEMS_SECRET_MAX_BYTES) {
        gridems_set_err(err, errlen, "%s: %s is longer than %d bytes; is it really a password?",
                        key, path, GRIDEMS_SECRET_MAX_BYTES);
        rc = GRIDEMS_ECONFIG;
    }
    if (rc == 0 && len == 0) {
        gridems_set_err(err, errlen, "%s: %s is empty", key, path);
        rc = GRIDEMS_ECONFIG;
    }
    for (size_t i = 0; rc == 0 && i < len; i++) {
        unsigned char ch = (unsigned char)buf[i];
        if (ch < 0x20 || ch == 0x7f) {
            /* The position only: the secret itself is never printed. */
            gridems_set_err(err, errlen,
                            "%s: %s holds a control character (byte %zu, code %u); the file is the "
                            "password and at most one final line break",
                            key, path, i, ch);
            rc = GRIDEMS_ECONFIG;
        }
    }
    if (rc == 0) {
        *out = malloc(len + 1);
        if (*out == NULL) {
            rc = GRIDEMS_ENOMEM;
        } else {
            memcpy(*out, buf, len);
            (*out)[len] = '\0';
        }
    }
    /* Do not leave the secret on the stack. */
    volatile char *wipe = buf;
    for (size_t i = 0; i < sizeof buf; i++) {
        wipe[i] = 0;
    }
    return rc;
}

void gridems__warn_if_readable(const char *path, const char *what)
{
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
        gridems_log_warn("%s: holds %s but is readable by %s (mode %04o): chmod 0600 it, or "
                         "move the secret into mqtt.password_file (docs/security.md)",
                         path, what, (st.st_mode & S_IROTH) != 0 ? "others" : "its group",
                         (unsigned)st.st_mode & 07777);
    }
}

/* ---- ## Code ---- */

/* The rule for one file or directory on the way to a plugin. 0 = fine. */
static int check_one(const char *path, bool is_target, const char *plugin, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        int e = errno;
        gridems_set_err(err, errlen, "plugin %s cannot be checked: %s: %s", plugin, path,
                        strerror(e));
        return e == ENOENT ? GRIDEMS_ENOENT : GRIDEMS_EPLUGIN;
    }
    if (S_ISLNK(st.st_mode)) {
        /* The link itself cannot be changed (its mode means nothing); who can replace it is
         * the directory's question, and its target is checked on the resolved path. */
        return 0;
    }
    const char *what = is_target ? "file" : "directory";
    uid_t me = geteuid();
    if (st.st_uid != 0 && st.st_uid != me) {
        gridems_set_err(
            err, errlen,
            "plugin %s refused: %s %s is owned by uid %ld, neither root nor the service's "
            "uid %ld (chown it)",
            plugin, what, path, (long)st.st_uid, (long)me);
        return GRIDEMS_EPLUGIN;
    }
    bool sticky_root_dir =
        !is_target && S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX) != 0 && st.st_uid == 0;
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && !sticky_root_dir) {
        gridems_set_err(err, errlen,
                        "plugin %s refused: %s %s is writable by %s (mode %04o); chmod go-w it",
                        plugin, what, path, (st.st_mode & S_IWOTH) != 0 ? "others" : "its group",
                        (unsigned)st.st_mode & 07777);
        return GRIDEMS_EPLUGIN;
    }
    return 0;
}

/* Check abs (an absolute path) and every directory above it. */
static int check_chain(const char *abs, const char *plugin, char *err, size_t errlen)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", abs) >= (int)sizeof buf) {
        gridems_set_err(err, errlen, "plugin %s: path too long", plugin);
        return GRIDEMS_EPLUGIN;
    }
    int rc = check_one(buf, true, plugin, err, errlen);
    for (char *slash = strrchr(buf, '/'); rc == 0 && slash != NULL; slash = strrchr(buf, '/')) {
        if (slash == buf) {
            rc = check_one("/", false, plugin, err, errlen);
            break;
        }
        *slash = '\0';
        rc = check_one(buf, false, plugin, err, errlen);
    }
    return rc;
}

int gridems__code_trusted(const char *path, char *err, size_t errlen)
{
    /* The path as given (made absolute): a directory on it that others can write lets them
     * swap a symlink or a directory; then the resolved path: the file that will be mapped. */
    char given[PATH_MAX];
    if (path[0] == '/') {
        snprintf(given, sizeof given, "%s", path);
    } else {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof cwd) == NULL ||
            snprintf(given, sizeof given, "%s/%s", cwd, path) >= (int)sizeof given) {
            gridems_set_err(err, errlen, "plugin %s: cannot make the path absolute", path);
            return GRIDEMS_EPLUGIN;
        }
    }
    int rc = check_chain(given, path, err, errlen);
    if (rc != 0) {
        return rc;
    }
    char resolved[PATH_MAX];
    if (realpath(path, resolved) == NULL) {
        int e = errno;
        gridems_set_err(err, errlen, "plugin %s cannot be resolved: %s", path, strerror(e));
        return e == ENOENT ? GRIDEMS_ENOENT : GRIDEMS_EPLUGIN;
    }
    return strcmp(resolved, given) == 0 ? 0 : check_chain(resolved, path, err, errlen);
}
