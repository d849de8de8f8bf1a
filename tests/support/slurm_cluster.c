/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "slurm_cluster.h"

#include "test_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

enum { READY_MS = 20000, POLL_MS = 50, STOP_MS = 10000 };

static void why(slurm_cluster_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void why(slurm_cluster_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof c->why, fmt, ap);
    va_end(ap);
}

/* The last bytes of a log file, for a reason to skip. */
static void log_tail(const char *path, char *out, size_t size)
{
    out[0] = '\0';
    size_t len = 0;
    char *text = test_read_file(path, &len);
    if (text == NULL) {
        return;
    }
    size_t keep = size - 1 < 400 ? size - 1 : 400;
    const char *from = len > keep ? text + len - keep : text;
    snprintf(out, size, "%s", from);
    free(text);
}

static int find_exe(const char *name, const char *const *dirs)
{
    char path[512];
    for (int i = 0; dirs[i] != NULL; i++) {
        snprintf(path, sizeof path, "%s/%s", dirs[i], name);
        if (access(path, X_OK) == 0) {
            return 1;
        }
    }
    return 0;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0) {
        port = ntohs(a.sin_port);
    }
    close(fd);
    return port;
}

/* fork + exec argv with output appended to log, dying with the test process. */
static pid_t spawn_daemon(char *const argv[], const char *log)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(127);
        }
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int null = open("/dev/null", O_RDONLY);
        if (fd >= 0 && null >= 0) {
            dup2(null, 0);
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static int alive(pid_t *pid)
{
    if (*pid <= 0) {
        return 0;
    }
    int st;
    if (waitpid(*pid, &st, WNOHANG) == *pid) {
        *pid = 0;
        return 0;
    }
    return 1;
}

/* Wait for *pid to exit within ms; SIGKILL it after that. */
static void reap(pid_t *pid, int ms)
{
    double end = test_now_ms() + ms;
    while (alive(pid) && test_now_ms() < end) {
        test_sleep_ms(20);
    }
    if (alive(pid)) {
        kill(*pid, SIGKILL);
        waitpid(*pid, NULL, 0);
        *pid = 0;
    }
}

/* Read what fd holds from its start, NUL-terminated (no Check calls: the probe in main() runs
 * outside a test). */
static char *slurp(int fd)
{
    lseek(fd, 0, SEEK_SET);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t got = read(fd, buf + n, cap - n - 1);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            break;
        }
        n += (size_t)got;
    }
    if (buf != NULL) {
        buf[n] = '\0';
    }
    return buf;
}

/* test_run_capture without Check calls: output into unlinked temporary files. */
static int run_capture(char *const argv[], char **out, char **err)
{
    char out_path[] = "/tmp/gridems-slurm-out-XXXXXX";
    char err_path[] = "/tmp/gridems-slurm-err-XXXXXX";
    int out_fd = mkstemp(out_path);
    int err_fd = mkstemp(err_path);
    if (out_fd < 0 || err_fd < 0) {
        if (out_fd >= 0) {
            close(out_fd);
        }
        return -1;
    }
    unlink(out_path);
    unlink(err_path);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(out_fd, 1);
        dup2(err_fd, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (out != NULL) {
        *out = pid > 0 ? slurp(out_fd) : NULL;
    }
    if (err != NULL) {
        *err = pid > 0 ? slurp(err_fd) : NULL;
    }
    close(out_fd);
    close(err_fd);
    if (pid < 0) {
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int slurm_cluster_run(slurm_cluster_t *c, char *const argv[], char **out, char **err)
{
    (void)c; /* SLURM_CONF is in the environment */
    return run_capture(argv, out, err);
}

void slurm_cluster_job_state(slurm_cluster_t *c, const char *id, char *out, size_t size)
{
    char jobs[64];
    snprintf(jobs, sizeof jobs, "--jobs=%s", id);
    char *argv[] = {"squeue", "--noheader", jobs, "-o", "%T %r", NULL};
    char *text = NULL;
    out[0] = '\0';
    if (slurm_cluster_run(c, argv, &text, NULL) == 0 && text != NULL) {
        text[strcspn(text, "\n")] = '\0';
        snprintf(out, size, "%s", text);
    }
    free(text);
}

/* Wait until `sinfo` says the node is idle or mixed/allocated, with the daemons alive. */
static int wait_node_ready(slurm_cluster_t *c, int need_slurmd)
{
    double end = test_now_ms() + READY_MS;
    while (test_now_ms() < end) {
        if (!alive(&c->slurmctld) || (need_slurmd && !alive(&c->slurmd)) || !alive(&c->munged)) {
            return -1;
        }
        char *argv[] = {"sinfo", "--noheader", "-o", "%T", NULL};
        char *out = NULL;
        int rc = run_capture(argv, &out, NULL);
        int ok = rc == 0 && out != NULL &&
                 (strncmp(out, "idle", 4) == 0 || strncmp(out, "mixed", 5) == 0 ||
                  strncmp(out, "allocated", 9) == 0);
        free(out);
        if (ok) {
            return 0;
        }
        test_sleep_ms(POLL_MS);
    }
    return -1;
}

static int start_munged(slurm_cluster_t *c)
{
    char mdir[600], key[700], sock[700], log[700], pidf[700], seed[700];
    snprintf(mdir, sizeof mdir, "%s/munge", c->dir);
    snprintf(key, sizeof key, "%s/munge.key", mdir);
    snprintf(sock, sizeof sock, "%s/munge.socket", mdir);
    snprintf(log, sizeof log, "%s/munged.log", mdir);
    snprintf(pidf, sizeof pidf, "%s/munged.pid", mdir);
    snprintf(seed, sizeof seed, "%s/munged.seed", mdir);
    if (mkdir(mdir, 0755) < 0 || chmod(mdir, 0755) < 0) {
        why(c, "mkdir %s: %s", mdir, strerror(errno));
        return -1;
    }
    /* A key of 1024 random bytes, readable by its owner only (munged refuses anything else). */
    int in = open("/dev/urandom", O_RDONLY);
    int outfd = open(key, O_WRONLY | O_CREAT | O_EXCL, 0600);
    char buf[1024];
    int ok = in >= 0 && outfd >= 0 && read(in, buf, sizeof buf) == (ssize_t)sizeof buf &&
             write(outfd, buf, sizeof buf) == (ssize_t)sizeof buf;
    if (in >= 0) {
        close(in);
    }
    if (outfd >= 0) {
        close(outfd);
    }
    if (!ok) {
        why(c, "cannot write the munge key %s", key);
        return -1;
    }
    char keyarg[800], logarg[800], pidarg[800], seedarg[800];
    snprintf(keyarg, sizeof keyarg, "--key-file=%s", key);
    snprintf(logarg, sizeof logarg, "--log-file=%s", log);
    snprintf(pidarg, sizeof pidarg, "--pid-file=%s", pidf);
    snprintf(seedarg, sizeof seedarg, "--seed-file=%s", seed);
    char *argv[] = {"munged", "-F", "-f", "-S", sock, keyarg, logarg, pidarg, seedarg, NULL};
    char out[700];
    snprintf(out, sizeof out, "%s/munged.out", mdir);
    c->munged = spawn_daemon(argv, out);
    double end = test_now_ms() + READY_MS;
    struct stat st;
    while (test_now_ms() < end) {
        if (!alive(&c->munged)) {
            char tail[420];
            log_tail(out, tail, sizeof tail);
            why(c, "munged exited at start: %s", tail);
            return -1;
        }
        if (stat(sock, &st) == 0 && S_ISSOCK(st.st_mode)) {
            return 0;
        }
        test_sleep_ms(POLL_MS);
    }
    why(c, "munged made no socket within %d ms", READY_MS);
    return -1;
}

static int write_conf(slurm_cluster_t *c)
{
    char host[256];
    if (gethostname(host, sizeof host) < 0) {
        why(c, "gethostname: %s", strerror(errno));
        return -1;
    }
    host[sizeof host - 1] = '\0';
    host[strcspn(host, ".")] = '\0';
    int p1 = free_port(), p2 = free_port();
    while (p2 == p1) {
        p2 = free_port();
    }
    if (p1 < 0 || p2 < 0) {
        why(c, "no free loopback port");
        return -1;
    }
    for (int i = 0; i < c->gpus; i++) {
        char dev[600];
        snprintf(dev, sizeof dev, "%s/gpu%d", c->dir, i);
        if (mknod(dev, S_IFCHR | 0666, makedev(1, 3)) < 0) {
            why(c, "mknod %s c 1 3: %s", dev, strerror(errno));
            return -1;
        }
    }
    char path[600];
    snprintf(path, sizeof path, "%s/state", c->dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/spool", c->dir);
    mkdir(path, 0755);
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (f == NULL) {
        why(c, "open_memstream failed");
        return -1;
    }
    /* Memory is not a consumable (CR_Core) and slurmd reports the configured CPUs
     * (config_overrides): jobs fit on a 2-core CI machine. */
    fprintf(f,
            "ClusterName=gridemstest\n"
            "SlurmctldHost=%s(127.0.0.1)\n"
            "SlurmctldPort=%d\n"
            "SlurmdPort=%d\n"
            "SlurmUser=root\n"
            "SlurmdUser=root\n"
            "AuthType=auth/munge\n"
            "CredType=cred/munge\n"
            "AuthInfo=socket=%s/munge/munge.socket\n"
            "StateSaveLocation=%s/state\n"
            "SlurmdSpoolDir=%s/spool\n"
            "SlurmctldPidFile=%s/slurmctld.pid\n"
            "SlurmdPidFile=%s/slurmd.pid\n"
            "SlurmctldLogFile=%s/slurmctld.log\n"
            "SlurmdLogFile=%s/slurmd.log\n"
            "ProctrackType=proctrack/linuxproc\n"
            "TaskPlugin=task/none\n"
            "SelectType=select/cons_tres\n"
            "SelectTypeParameters=CR_Core\n"
            "GresTypes=gpu\n"
            "AccountingStorageType=accounting_storage/none\n"
            "JobAcctGatherType=jobacct_gather/none\n"
            "JobCompType=jobcomp/none\n"
            "MpiDefault=none\n"
            "SwitchType=switch/none\n"
            "MailProg=/bin/true\n"
            "SlurmdParameters=config_overrides\n"
            "SchedulerType=sched/backfill\n"
            "ReturnToService=2\n"
            "SlurmctldTimeout=5\n"
            "MessageTimeout=5\n"
            "MinJobAge=300\n"
            "NodeName=%s NodeHostname=%s NodeAddr=127.0.0.1 CPUs=8 RealMemory=1000 Gres=gpu:%d "
            "State=UNKNOWN\n"
            "PartitionName=gpu Nodes=%s Default=YES MaxTime=INFINITE State=UP\n",
            host, p1, p2, c->dir, c->dir, c->dir, c->dir, c->dir, c->dir, c->dir, c->node, host,
            c->gpus, c->node);
    fclose(f);
    int rc = test_write_file(c->conf, text);
    free(text);
    char gres[700], gtext[1024];
    snprintf(gres, sizeof gres, "%s/gres.conf", c->dir);
    snprintf(gtext, sizeof gtext, "AutoDetect=off\nNodeName=%s Name=gpu File=%s/gpu[0-%d]\n",
             c->node, c->dir, c->gpus - 1);
    if (rc < 0 || test_write_file(gres, gtext) < 0) {
        why(c, "cannot write %s or %s", c->conf, gres);
        return -1;
    }
    return 0;
}

static int start_ctld(slurm_cluster_t *c, int fresh)
{
    char out[600];
    snprintf(out, sizeof out, "%s/slurmctld.out", c->dir);
    char *argv_fresh[] = {"slurmctld", "-D", "-i", "-f", c->conf, NULL};
    char *argv_recover[] = {"slurmctld", "-D", "-f", c->conf, NULL};
    c->slurmctld = spawn_daemon(fresh ? argv_fresh : argv_recover, out);
    return c->slurmctld > 0 ? 0 : -1;
}

int slurm_cluster_start(slurm_cluster_t *c, const char *tag, int gpus)
{
    memset(c, 0, sizeof *c);
    c->gpus = gpus;
    snprintf(c->node, sizeof c->node, "gn1");
    if (geteuid() != 0) {
        why(c, "not root: the fake GPUs need mknod and the daemons run as SlurmUser=root");
        return -1;
    }
    static const char *const sbin[] = {"/usr/sbin", "/usr/local/sbin", "/usr/bin", NULL};
    static const char *const bin[] = {"/usr/bin", "/usr/local/bin", NULL};
    if (!find_exe("munged", sbin) || !find_exe("slurmctld", sbin) || !find_exe("slurmd", sbin) ||
        !find_exe("sbatch", bin) || !find_exe("squeue", bin) || !find_exe("scontrol", bin)) {
        why(c, "munged, slurmctld, slurmd or the Slurm client tools are not installed (Debian "
               "packages munge, slurm-wlm, slurm-client)");
        return -1;
    }
    const char *base = getenv("TMPDIR");
    char tmpl[600];
    snprintf(tmpl, sizeof tmpl, "%s/gridems-%s-XXXXXX", base != NULL ? base : "/tmp", tag);
    if (mkdtemp(tmpl) == NULL || (c->dir = strdup(tmpl)) == NULL) {
        why(c, "mkdtemp %s: %s", tmpl, strerror(errno));
        return -1;
    }
    /* 0755: munged wants every directory above its socket searchable by all. */
    chmod(c->dir, 0755);
    snprintf(c->conf, sizeof c->conf, "%s/slurm.conf", c->dir);
    setenv("SLURM_CONF", c->conf, 1);
    if (start_munged(c) < 0 || write_conf(c) < 0 || start_ctld(c, 1) < 0) {
        char keep[sizeof c->why];
        snprintf(keep, sizeof keep, "%s", c->why);
        slurm_cluster_stop(c);
        snprintf(c->why, sizeof c->why, "%s", keep);
        return -1;
    }
    char out[600];
    snprintf(out, sizeof out, "%s/slurmd.out", c->dir);
    char *argv[] = {"slurmd", "-D", "-N", c->node, "-f", c->conf, NULL};
    c->slurmd = spawn_daemon(argv, out);
    if (wait_node_ready(c, 1) < 0) {
        char t1[420], t2[420], p[600];
        snprintf(p, sizeof p, "%s/slurmctld.log", c->dir);
        log_tail(p, t1, sizeof t1);
        snprintf(p, sizeof p, "%s/slurmd.log", c->dir);
        log_tail(p, t2, sizeof t2);
        char keep[sizeof c->why];
        snprintf(keep, sizeof keep,
                 "Slurm did not become ready within %d ms (slurmctld %s, slurmd %s); "
                 "slurmctld.log ends: %.400s; slurmd.log ends: %.400s",
                 READY_MS, alive(&c->slurmctld) ? "running" : "exited",
                 alive(&c->slurmd) ? "running" : "exited", t1, t2);
        slurm_cluster_stop(c);
        snprintf(c->why, sizeof c->why, "%s", keep);
        return -1;
    }
    return 0;
}

int slurm_cluster_stop_controller(slurm_cluster_t *c)
{
    if (!alive(&c->slurmctld)) {
        return -1;
    }
    kill(c->slurmctld, SIGTERM);
    reap(&c->slurmctld, STOP_MS);
    return 0;
}

int slurm_cluster_start_controller(slurm_cluster_t *c)
{
    if (alive(&c->slurmctld)) {
        return 0;
    }
    if (start_ctld(c, 0) < 0 || wait_node_ready(c, 1) < 0) {
        why(c, "slurmctld did not come back within %d ms", READY_MS);
        return -1;
    }
    return 0;
}

void slurm_cluster_stop(slurm_cluster_t *c)
{
    if (alive(&c->slurmctld)) {
        char *cancel[] = {"scancel", "--partition=gpu", NULL};
        run_capture(cancel, NULL, NULL);
        /* Wait (bounded) for the jobs to be gone, so slurmd ends no step mid-way. */
        double end = test_now_ms() + STOP_MS;
        while (test_now_ms() < end) {
            char *argv[] = {"squeue", "--noheader", "-t", "PENDING,RUNNING,SUSPENDED,COMPLETING",
                            NULL};
            char *out = NULL;
            int rc = run_capture(argv, &out, NULL);
            int empty = rc != 0 || out == NULL || out[0] == '\0';
            free(out);
            if (empty) {
                break;
            }
            test_sleep_ms(POLL_MS);
        }
        char *shutdown[] = {"scontrol", "shutdown", NULL};
        run_capture(shutdown, NULL, NULL);
    } else if (c->slurmd > 0) {
        kill(c->slurmd, SIGTERM);
    }
    reap(&c->slurmctld, STOP_MS);
    reap(&c->slurmd, STOP_MS);
    if (alive(&c->munged)) {
        kill(c->munged, SIGTERM);
    }
    reap(&c->munged, STOP_MS);
    if (c->dir != NULL) {
        char *rm[] = {"rm", "-rf", c->dir, NULL};
        run_capture(rm, NULL, NULL);
        free(c->dir);
        c->dir = NULL;
    }
}
