/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Owning state_dir: one service per directory, and no debris from a crash.
 *
 * gridems_state_dir_open() takes an exclusive flock(2) on <dir>/lock (created 0600), writes the
 * process id into it, and removes the temporary files an interrupted atomic write leaves
 * (<file>.tmp.XXXXXX, file_util.h) for every file gridems keeps there. A second instance on the
 * same directory is refused with the pid that holds the lock. The lock lives as long as the
 * descriptor: a crash (kill -9) releases it with the process, so a restart never finds a stale
 * lock; the pid in the file is only for the message.
 *
 * Thread: the caller's (start-up and shutdown of the service).
 */
#ifndef GRIDEMS_STATE_DIR_H
#define GRIDEMS_STATE_DIR_H

#include <stddef.h>

#define GRIDEMS_STATE_LOCK_FILE "lock"

/*
 * gridems_state_dir_open: lock dir (which must exist) and clean it.
 * Parameters: dir (borrowed); fd (borrowed; receives the lock's descriptor, keep it open for the
 *   process's life); removed (borrowed, may be NULL: how many leftover temporary files were
 *   removed); err/errlen: on failure one line, e.g. "state_dir /var/lib/gridems is in use by
 *   another gridems (pid 4242)".
 * Returns: 0, GRIDEMS_EEXIST (another process holds it), GRIDEMS_EIO.
 */
int gridems_state_dir_open(const char *dir, int *fd, int *removed, char *err, size_t errlen);

/* Release the lock (close the descriptor; the file stays). fd < 0 is a no-op. */
void gridems_state_dir_close(int fd);

/*
 * gridems_state_dir_keep_refused: a file of dir that its reader refused at start-up (rc
 * GRIDEMS_EPARSE or GRIDEMS_EINVAL: not JSON under the policy, another version, a field that
 * breaks a rule) is renamed <file>.rejected, replacing an older one, before the service's next
 * save writes the file anew: what it held (a billing-period peak, DR events, a newer version's
 * data after a downgrade) stays there for an operator to read or repair, instead of being
 * overwritten. Other codes (missing, unreadable) leave the file alone.
 * Parameters: dir, file (borrowed); rc: the reader's code; note (borrowed, notelen bytes): a
 * clause for the caller's log line, "; the file is kept as <dir>/<file>.rejected", or "; it
 * could not be kept aside (<errno text>) and will be overwritten", or "" when nothing was done.
 * Thread: the caller's (start-up).
 */
void gridems_state_dir_keep_refused(const char *dir, const char *file, int rc, char *note,
                                    size_t notelen);

#endif
