/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * A SunSpec device over Modbus TCP (libmodbus): connect, find "SunS", walk the model chain, read
 * a model in one request, write a control block and read it back.
 *
 * Threads: every function blocks on the network and is called only from a work_fn (a pool
 * thread), one job at a time per link: the plugin queues at most one job per device, and the
 * loop thread touches a link only while no job is queued (init and destroy). Nothing here calls
 * the host.
 */
#ifndef GRIDEMS_SUNSPEC_LINK_H
#define GRIDEMS_SUNSPEC_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "sunspec_decode.h"

enum { SS_MODEL_READ_MAX = 125 }; /* registers in one Modbus read (the protocol's limit) */

typedef struct ss_link_s {
    /* Settings, filled by the plugin before the first job; borrowed strings. */
    const char *host;
    int port;
    int unit_id;
    int timeout_ms;
    long base; /* -1: try 40000, 50000 and 0 in that order */

    /* Owned by the job running on the link. */
    void *ctx;        /* modbus_t *, NULL while disconnected */
    int discovered;   /* chain below is valid */
    ss_chain_t chain; /* models found */
    char mn[33], md[33], sn[33];
} ss_link_t;

/* Connect if needed and, on a new connection, discover the chain. 0, or -1 with err. A
 * connection whose discovery failed is closed. */
int ss_link_ensure(ss_link_t *l, int *discovered_now, char *err, size_t errlen);

/* Read model `id` (the first of the chain with that id), its first min(want, L+2, 125) registers,
 * into buf (cap >= want). *n gets the count. 0, or -1 with err. */
int ss_link_read_model(ss_link_t *l, uint16_t id, unsigned want, uint16_t *buf, size_t *n,
                       char *err, size_t errlen);

/* Write block w into model `id`. 0, or -1 with err. */
int ss_link_write(ss_link_t *l, uint16_t id, const ss_write_t *w, char *err, size_t errlen);

/* Drop the connection (a later ensure reconnects and discovers again). */
void ss_link_close(ss_link_t *l);

#endif
