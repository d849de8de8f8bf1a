/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "file_util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gridems/errors.h"

static int read_stream(FILE *f, char **data, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        return GRIDEMS_ENOMEM;
    }
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > GRIDEMS_MAX_FILE_BYTES) {
                free(buf);
                return GRIDEMS_ETOOBIG;
            }
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf);
                return GRIDEMS_ENOMEM;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) {
            break;
        }
    }
    if (ferror(f)) {
        free(buf);
        return GRIDEMS_EIO;
    }
    if (n > GRIDEMS_MAX_FILE_BYTES) {
        free(buf);
        return GRIDEMS_ETOOBIG;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

int gridems_read_file(const char *path, char **data, size_t *len)
{
    if (strcmp(path, "-") == 0) {
        return read_stream(stdin, data, len);
    }
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return errno == ENOENT ? GRIDEMS_ENOENT : GRIDEMS_EIO;
    }
    int rc = read_stream(f, data, len);
    fclose(f);
    return rc;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int gridems_write_file_atomic(const char *path, const char *data, size_t len)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    char *dir_copy = strdup(path);
    if (tmp == NULL || dir_copy == NULL) {
        free(tmp);
        free(dir_copy);
        return GRIDEMS_ENOMEM;
    }
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    int rc = GRIDEMS_EIO;
    int fd = mkstemp(tmp);
    int first_errno = fd < 0 ? errno : 0; /* the cause, kept for the caller past the clean-up */
    if (fd >= 0) {
        int ok = write_all(fd, data, len) == 0 && fsync(fd) == 0;
        if (!ok) {
            first_errno = errno;
        }
        if (close(fd) != 0) {
            first_errno = ok ? errno : first_errno;
            ok = 0;
        }
        if (ok && rename(tmp, path) != 0) {
            first_errno = errno;
            ok = 0;
        }
        if (ok) {
            rc = 0;
            /* Make the rename itself durable. */
            int dfd = open(dirname(dir_copy), O_RDONLY | O_DIRECTORY);
            if (dfd >= 0) {
                fsync(dfd);
                close(dfd);
            }
        } else {
            unlink(tmp);
        }
    }
    free(tmp);
    free(dir_copy);
    if (rc != 0) {
        errno = first_errno != 0 ? first_errno : EIO;
    }
    return rc;
}
