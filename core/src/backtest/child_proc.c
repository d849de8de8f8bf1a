/* SPDX-License-Identifier: GPL-3.0-or-later */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child_proc.h"

volatile int gridems_child_stop_signal;

static void on_stop(int sig)
{
    gridems_child_stop_signal = sig;
}

void gridems_child_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    /* A broken pipe (the broker gone) must be an error return, not the process's death. */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

int64_t gridems_child_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int gridems_child_make_temp_dir(char *out, size_t len)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0') {
        base = "/tmp";
    }
    int n = snprintf(out, len, "%s/gridems-run-XXXXXX", base);
    if (n < 0 || (size_t)n >= len) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return mkdtemp(out) != NULL ? 0 : -1;
}

void gridems_child_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        DIR *dir = opendir(path);
        if (dir != NULL) {
            struct dirent *e;
            while ((e = readdir(dir)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
                    continue;
                }
                char child[4096];
                int n = snprintf(child, sizeof child, "%s/%s", path, e->d_name);
                if (n > 0 && (size_t)n < sizeof child) {
                    gridems_child_remove_tree(child);
                }
            }
            closedir(dir);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

int gridems_child_free_port(void)
{
    /* Bind port 0 and ask which port the kernel chose; the socket is closed again at once, so
     * there is a short window in which another program could take it (then mosquitto fails to
     * start, and the caller says so). */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t alen = sizeof addr;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &alen) == 0) {
        port = ntohs(addr.sin_port);
    }
    close(fd);
    return port;
}

const char *gridems_child_find_mosquitto(char *buf, size_t len)
{
    const char *path = getenv("PATH");
    if (path != NULL) {
        const char *p = path;
        while (*p != '\0') {
            const char *end = strchr(p, ':');
            size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
            if (n > 0) {
                int w = snprintf(buf, len, "%.*s/mosquitto", (int)n, p);
                if (w > 0 && (size_t)w < len && access(buf, X_OK) == 0) {
                    return buf;
                }
            }
            p += n;
            if (*p == ':') {
                p++;
            }
        }
    }
    /* Debian installs the broker in /usr/sbin, which is not on a normal user's PATH. */
    snprintf(buf, len, "/usr/sbin/mosquitto");
    return access(buf, X_OK) == 0 ? buf : NULL;
}

pid_t gridems_child_spawn(char *const argv[], const char *log_path)
{
    int log_fd = -1;
    if (log_path != NULL) {
        log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (log_fd < 0) {
            return -1;
        }
    }
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        /* Only async-signal-safe calls between fork and exec. */
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) {
            _exit(127); /* the parent died before prctl took effect */
        }
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_DFL;
        sigaction(SIGPIPE, &sa, NULL);
        if (log_fd >= 0) {
            dup2(log_fd, STDOUT_FILENO);
            dup2(log_fd, STDERR_FILENO);
        }
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    int saved = errno;
    if (log_fd >= 0) {
        close(log_fd);
    }
    errno = saved;
    return pid;
}

int gridems_child_exited(pid_t pid, int *status)
{
    int st = 0;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == 0) {
        return 0;
    }
    if (r < 0) {
        return -1;
    }
    *status = st;
    return 1;
}

int gridems_child_stop(pid_t pid, int sig, int timeout_ms, int *killed)
{
    *killed = 0;
    int st = 0;
    kill(pid, sig);
    int64_t give_up = gridems_child_mono_ms() + timeout_ms;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            return st;
        }
        if (r < 0 && errno != EINTR) {
            return -1;
        }
        if (gridems_child_mono_ms() >= give_up) {
            break;
        }
        struct timespec nap = {0, 20 * 1000 * 1000};
        nanosleep(&nap, NULL);
    }
    *killed = 1;
    kill(pid, SIGKILL);
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    return st;
}

void gridems_child_print_log_tail(const char *path, int max_lines)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return;
    }
    /* Keep the last max_lines lines in a ring of fixed-size lines: logs are line-oriented. */
    enum { LINE_MAX_CHARS = 400 };
    char(*ring)[LINE_MAX_CHARS] = calloc((size_t)max_lines, sizeof *ring);
    if (ring == NULL) {
        fclose(f);
        return;
    }
    long n = 0;
    while (fgets(ring[n % max_lines], LINE_MAX_CHARS, f) != NULL) {
        size_t l = strlen(ring[n % max_lines]);
        if (l > 0 && ring[n % max_lines][l - 1] != '\n') {
            /* A longer line: keep its start, skip the rest. */
            int c;
            while ((c = fgetc(f)) != EOF && c != '\n') {
            }
        }
        n++;
    }
    fclose(f);
    long first = n > max_lines ? n - max_lines : 0;
    for (long i = first; i < n; i++) {
        const char *line = ring[i % max_lines];
        size_t l = strlen(line);
        fprintf(stderr, "    %s%s", line, l > 0 && line[l - 1] == '\n' ? "" : "\n");
    }
    free(ring);
}

/* ---- ## A private broker ---- */

/* How long mosquitto may take to listen. */
#define BROKER_START_MS 10000

static int port_accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return 0;
    }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((uint16_t)port);
    int ok = connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0;
    close(fd);
    return ok;
}

static int broker_try(gridems_broker_t *b, const char *bin, const char *dir, char *err,
                      size_t errlen)
{
    char conf[4200];
    b->port = gridems_child_free_port();
    if (b->port < 0) {
        snprintf(err, errlen, "no free loopback port");
        return -1;
    }
    snprintf(conf, sizeof conf, "%s/mosquitto.conf", dir);
    snprintf(b->log_path, sizeof b->log_path, "%s/mosquitto.log", dir);
    FILE *f = fopen(conf, "w");
    if (f == NULL) {
        snprintf(err, errlen, "cannot write %s: %s", conf, strerror(errno));
        return -1;
    }
    fprintf(f,
            "listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_inflight_messages 0\nmax_queued_messages 0\nset_tcp_nodelay true\n",
            b->port);
    fclose(f);
    char *argv[] = {(char *)bin, "-c", conf, NULL};
    b->pid = gridems_child_spawn(argv, b->log_path);
    if (b->pid < 0) {
        snprintf(err, errlen, "cannot start %s: %s", bin, strerror(errno));
        return -1;
    }
    int64_t give_up = gridems_child_mono_ms() + BROKER_START_MS;
    for (;;) {
        int status;
        if (gridems_child_exited(b->pid, &status) == 1) {
            b->pid = -1;
            snprintf(err, errlen, "mosquitto exited at start-up (see %s)", b->log_path);
            return 1; /* most likely the port was taken since it was found free */
        }
        if (port_accepts(b->port)) {
            return 0;
        }
        if (gridems_child_mono_ms() >= give_up) {
            snprintf(err, errlen, "mosquitto did not listen on port %d within %d ms", b->port,
                     BROKER_START_MS);
            return -1;
        }
        /* Waiting for another process to listen: there is no event to wait on. */
        struct timespec nap = {0, 10 * 1000 * 1000};
        nanosleep(&nap, NULL);
    }
}

int gridems_broker_start(gridems_broker_t *b, const char *dir, char *err, size_t errlen)
{
    char bin[4200];
    b->pid = -1;
    if (gridems_child_find_mosquitto(bin, sizeof bin) == NULL) {
        snprintf(err, errlen, "mosquitto not found (apt-get install mosquitto)");
        return -1;
    }
    int rc = broker_try(b, bin, dir, err, errlen);
    if (rc == 1) {
        rc = broker_try(b, bin, dir, err, errlen);
    }
    if (rc != 0 && b->pid > 0) {
        gridems_broker_stop(b);
    }
    return rc == 0 ? 0 : -1;
}

void gridems_broker_stop(gridems_broker_t *b)
{
    if (b->pid > 0) {
        int killed;
        gridems_child_stop(b->pid, SIGTERM, 2000, &killed);
        b->pid = -1;
    }
}
