/* SPDX-License-Identifier: GPL-3.0-or-later */
/* One service per state_dir, and no temporary files left from a crash (state_dir.h). */
#include "state_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "gridems/errors.h"

/* A name gridems_write_file_atomic() gives its temporary files: "<name>.tmp.XXXXXX", with the
 * six characters mkstemp() fills in. Only those are removed, never a file of someone else's. */
static int is_leftover(const char *name)
{
    const char *tag = strstr(name, ".tmp.");
    if (tag == NULL || tag == name || strlen(tag + 5) != 6) {
        return 0;
    }
    for (const char *p = tag + 5; *p != '\0'; p++) {
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))) {
            return 0;
        }
    }
    return 1;
}

static int remove_leftovers(const char *dir)
{
    DIR *d = opendir(dir);
    int removed = 0;
    if (d == NULL) {
        return 0;
    }
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        if (is_leftover(e->d_name) && unlinkat(dirfd(d), e->d_name, 0) == 0) {
            removed++;
        }
    }
    closedir(d);
    return removed;
}

/* The pid written in the lock file by its holder, or 0. */
static long holder_pid(int fd)
{
    char buf[32] = "";
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    return strtol(buf, NULL, 10);
}

int gridems_state_dir_open(const char *dir, int *fd, int *removed, char *err, size_t errlen)
{
    char path[4096];
    *fd = -1;
    if (removed != NULL) {
        *removed = 0;
    }
    if (snprintf(path, sizeof path, "%s/%s", dir, GRIDEMS_STATE_LOCK_FILE) >= (int)sizeof path) {
        snprintf(err, errlen, "state_dir %s: path too long", dir);
        return GRIDEMS_EIO;
    }
    int lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lfd < 0) {
        snprintf(err, errlen, "state_dir %s: cannot open %s: %s", dir, path, strerror(errno));
        return GRIDEMS_EIO;
    }
    if (flock(lfd, LOCK_EX | LOCK_NB) != 0) {
        int cause = errno;
        long pid = cause == EWOULDBLOCK ? holder_pid(lfd) : 0;
        close(lfd);
        if (cause == EWOULDBLOCK) {
            snprintf(err, errlen,
                     "state_dir %s is in use by another gridems (pid %ld holds %s); two services "
                     "on one state_dir would overwrite each other's state",
                     dir, pid, path);
            return GRIDEMS_EEXIST;
        }
        snprintf(err, errlen, "state_dir %s: cannot lock %s: %s", dir, path, strerror(cause));
        return GRIDEMS_EIO;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(lfd, 0) != 0 || pwrite(lfd, pid, (size_t)n, 0) != n) {
        /* The lock holds without the pid; only a refused second instance's message loses it. */
        (void)0;
    }
    int gone = remove_leftovers(dir);
    if (removed != NULL) {
        *removed = gone;
    }
    *fd = lfd;
    return 0;
}

void gridems_state_dir_close(int fd)
{
    if (fd >= 0) {
        close(fd);
    }
}

void gridems_state_dir_keep_refused(const char *dir, const char *file, int rc, char *note,
                                    size_t notelen)
{
    if (notelen > 0) {
        note[0] = '\0';
    }
    if (rc != GRIDEMS_EPARSE && rc != GRIDEMS_EINVAL) {
        return;
    }
    char from[4096], to[4200];
    snprintf(from, sizeof from, "%s/%s", dir, file);
    snprintf(to, sizeof to, "%s.rejected", from);
    if (rename(from, to) == 0) {
        snprintf(note, notelen, "; the file is kept as %s", to);
    } else {
        snprintf(note, notelen, "; it could not be kept aside (%s) and will be overwritten",
                 strerror(errno));
    }
}
