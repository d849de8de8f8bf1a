/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * A Modbus TCP server for the SunSpec tests, built on libmodbus's server mode: it serves the
 * holding registers of a register image file and nothing else (any other address is answered
 * with ILLEGAL DATA ADDRESS, as a device answers outside its map).
 *
 *   sunspec_server IMAGE [PORT [UNIT]]
 *
 * IMAGE: one register a line, "ADDRESS VALUE" in decimal ('#' starts a comment); the served
 * range runs from the lowest to the highest address given (gaps read 0). PORT 0 (the default)
 * lets the kernel choose a free loopback port. UNIT (default 1): requests for another unit id
 * get GATEWAY TARGET DEVICE FAILED TO RESPOND.
 *
 * stdout, line-buffered, for the test to wait on:
 *   "listening PORT"             once the socket listens;
 *   "write ADDR N V1 V2 ..."     after each accepted write of holding registers;
 *   "exceptions on|off"          after SIGUSR1;  "dropped N"  after SIGUSR2;
 *   "writes ignored on|off"      after SIGHUP.
 * Signals: SIGUSR1 toggles the exception mode (every request answered with SERVER DEVICE
 * FAILURE); SIGUSR2 closes every client connection (a device that drops its clients, the
 * clients reconnect); SIGHUP toggles ignoring writes (acknowledged but not stored, like a device
 * in local mode); SIGSTOP/SIGCONT (from the test) make a server that stops answering; SIGTERM
 * ends it. Test code only.
 */
#include <errno.h>
#include <modbus.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

enum { MAX_REGS = 65536, MAX_CLIENTS = 32 };

static volatile sig_atomic_t toggle_exc, toggle_ignore, drop_all, stop;

static void on_signal(int sig)
{
    if (sig == SIGUSR1) {
        toggle_exc = 1;
    } else if (sig == SIGUSR2) {
        drop_all = 1;
    } else if (sig == SIGHUP) {
        toggle_ignore = 1;
    } else {
        stop = 1;
    }
}

static int load_image(const char *path, modbus_mapping_t **map)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "sunspec_server: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    static unsigned addr[MAX_REGS];
    static unsigned val[MAX_REGS];
    unsigned n = 0, lo = MAX_REGS, hi = 0;
    char line[256];
    while (fgets(line, sizeof line, f) != NULL) {
        char *hash = strchr(line, '#');
        if (hash != NULL) {
            *hash = '\0';
        }
        unsigned a, v;
        if (sscanf(line, "%u %u", &a, &v) != 2) {
            continue;
        }
        if (a >= MAX_REGS || v > 0xFFFF || n == MAX_REGS) {
            fprintf(stderr, "sunspec_server: bad line: %s\n", line);
            fclose(f);
            return -1;
        }
        addr[n] = a;
        val[n] = v;
        n++;
        lo = a < lo ? a : lo;
        hi = a > hi ? a : hi;
    }
    fclose(f);
    if (n == 0) {
        fprintf(stderr, "sunspec_server: %s holds no register\n", path);
        return -1;
    }
    *map = modbus_mapping_new_start_address(0, 0, 0, 0, lo, hi - lo + 1, 0, 0);
    if (*map == NULL) {
        return -1;
    }
    for (unsigned i = 0; i < n; i++) {
        (*map)->tab_registers[addr[i] - lo] = (uint16_t)val[i];
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: sunspec_server IMAGE [PORT [UNIT]]\n");
        return 2;
    }
    int port = argc > 2 ? atoi(argv[2]) : 0;
    int unit = argc > 3 ? atoi(argv[3]) : 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    modbus_mapping_t *map = NULL;
    if (load_image(argv[1], &map) < 0) {
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: select() returns EINTR */
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    modbus_t *ctx = modbus_new_tcp("127.0.0.1", port);
    int lfd = ctx != NULL ? modbus_tcp_listen(ctx, MAX_CLIENTS) : -1;
    if (lfd < 0) {
        fprintf(stderr, "sunspec_server: cannot listen on port %d: %s\n", port,
                modbus_strerror(errno));
        return 1;
    }
    struct sockaddr_in sin;
    socklen_t slen = sizeof sin;
    getsockname(lfd, (struct sockaddr *)&sin, &slen);
    printf("listening %d\n", ntohs(sin.sin_port));

    int clients[MAX_CLIENTS];
    int nclients = 0;
    int exceptions = 0;
    int ignore_writes = 0;
    static uint16_t saved[65536];
    uint8_t req[MODBUS_TCP_MAX_ADU_LENGTH];
    while (!stop) {
        if (toggle_exc) {
            toggle_exc = 0;
            exceptions = !exceptions;
            printf("exceptions %s\n", exceptions ? "on" : "off");
        }
        if (toggle_ignore) {
            toggle_ignore = 0;
            ignore_writes = !ignore_writes;
            printf("writes ignored %s\n", ignore_writes ? "on" : "off");
        }
        if (drop_all) {
            drop_all = 0;
            for (int i = 0; i < nclients; i++) {
                close(clients[i]);
            }
            printf("dropped %d\n", nclients);
            nclients = 0;
        }
        fd_set rd;
        FD_ZERO(&rd);
        FD_SET(lfd, &rd);
        int maxfd = lfd;
        for (int i = 0; i < nclients; i++) {
            FD_SET(clients[i], &rd);
            maxfd = clients[i] > maxfd ? clients[i] : maxfd;
        }
        if (select(maxfd + 1, &rd, NULL, NULL, NULL) < 0) {
            continue; /* EINTR: a signal to handle */
        }
        if (FD_ISSET(lfd, &rd)) {
            int c = accept(lfd, NULL, NULL);
            if (c >= 0 && nclients < MAX_CLIENTS) {
                clients[nclients++] = c;
            } else if (c >= 0) {
                close(c);
            }
        }
        for (int i = 0; i < nclients; i++) {
            if (!FD_ISSET(clients[i], &rd)) {
                continue;
            }
            modbus_set_socket(ctx, clients[i]);
            int len = modbus_receive(ctx, req);
            if (len == 0) {
                continue; /* not for us */
            }
            if (len < 0) {
                close(clients[i]);
                clients[i--] = clients[--nclients];
                continue;
            }
            int hl = modbus_get_header_length(ctx);
            if (exceptions) {
                modbus_reply_exception(ctx, req, MODBUS_EXCEPTION_SLAVE_OR_SERVER_FAILURE);
                continue;
            }
            if (req[hl - 1] != unit) {
                modbus_reply_exception(ctx, req, MODBUS_EXCEPTION_GATEWAY_TARGET);
                continue;
            }
            size_t bytes = (size_t)map->nb_registers * sizeof saved[0];
            if (ignore_writes) {
                memcpy(saved, map->tab_registers, bytes);
            }
            int replied = modbus_reply(ctx, req, len, map);
            if (ignore_writes) {
                memcpy(map->tab_registers, saved, bytes); /* acknowledged, not stored */
                continue;
            }
            if (replied < 0) {
                continue;
            }
            if (req[hl] == MODBUS_FC_WRITE_MULTIPLE_REGISTERS ||
                req[hl] == MODBUS_FC_WRITE_SINGLE_REGISTER) {
                unsigned a = ((unsigned)req[hl + 1] << 8) | req[hl + 2];
                unsigned n = req[hl] == MODBUS_FC_WRITE_SINGLE_REGISTER
                                 ? 1
                                 : (((unsigned)req[hl + 3] << 8) | req[hl + 4]);
                if (a >= (unsigned)map->start_registers &&
                    a + n <= (unsigned)(map->start_registers + map->nb_registers)) {
                    printf("write %u %u", a, n);
                    for (unsigned k = 0; k < n; k++) {
                        printf(" %u", map->tab_registers[a - map->start_registers + k]);
                    }
                    printf("\n");
                }
            }
        }
    }
    for (int i = 0; i < nclients; i++) {
        close(clients[i]);
    }
    close(lfd);
    modbus_free(ctx);
    modbus_mapping_free(map);
    return 0;
}
