/* SPDX-License-Identifier: GPL-3.0-or-later */
/* SunSpec over Modbus TCP with libmodbus; see sunspec_link.h. */
#include "sunspec_link.h"

#include <errno.h>
#include <modbus.h>
#include <stdio.h>
#include <string.h>

#include "sunspec_regs.h"

void ss_link_close(ss_link_t *l)
{
    if (l->ctx != NULL) {
        modbus_close(l->ctx);
        modbus_free(l->ctx);
        l->ctx = NULL;
    }
    l->discovered = 0;
}

static int read_regs(ss_link_t *l, uint32_t addr, unsigned n, uint16_t *out, char *err,
                     size_t errlen)
{
    if (addr + n > 65536u) {
        return ss_fail(err, errlen, "register %u+%u is beyond the address space", (unsigned)addr,
                       n);
    }
    int got = modbus_read_registers(l->ctx, (int)addr, (int)n, out);
    if (got != (int)n) {
        return ss_fail(err, errlen, "reading %u registers at %u: %s", n, (unsigned)addr,
                       got < 0 ? modbus_strerror(errno) : "short answer");
    }
    return 0;
}

/* A Modbus exception is an answer: the connection is fine, the address is not SunSpec. A
 * timeout or a broken connection is not. */
static int is_exception(int e)
{
    return e > MODBUS_ENOBASE && e <= MODBUS_ENOBASE + MODBUS_EXCEPTION_GATEWAY_TARGET;
}

static void copy_string(const uint16_t *r, char *out)
{
    for (unsigned i = 0; i < SS1_STR_REGS; i++) {
        out[2 * i] = (char)(r[i] >> 8);
        out[2 * i + 1] = (char)(r[i] & 0xFF);
    }
    out[2 * SS1_STR_REGS] = '\0';
    for (size_t i = 0; out[i] != '\0'; i++) {
        if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] > 0x7e) {
            out[i] = '\0'; /* the string ends at its NUL padding (or at garbage) */
            break;
        }
    }
}

static int walk(ss_link_t *l, uint32_t base, char *err, size_t errlen)
{
    ss_chain_t *c = &l->chain;
    memset(c, 0, sizeof *c);
    c->base = base;
    uint32_t addr = base + 2;
    for (;;) {
        uint16_t hdr[2];
        if (read_regs(l, addr, 2, hdr, err, errlen) < 0) {
            return -1;
        }
        if (hdr[0] == SS_END_ID) {
            return 0;
        }
        if (c->n == SS_CHAIN_MAX) {
            return ss_fail(err, errlen, "more than %d models after SunS at %u", SS_CHAIN_MAX,
                           (unsigned)base);
        }
        c->m[c->n].id = hdr[0];
        c->m[c->n].len = hdr[1];
        c->m[c->n].addr = addr;
        c->n++;
        addr += 2u + hdr[1];
        if (addr > 65534u) {
            return ss_fail(err, errlen, "the model chain runs past the address space");
        }
    }
}

static int discover(ss_link_t *l, char *err, size_t errlen)
{
    static const uint32_t bases[] = {40000, 50000, 0};
    char tried[256] = "";
    size_t at = 0;
    for (unsigned i = 0; i < 3; i++) {
        uint32_t base = l->base >= 0 ? (uint32_t)l->base : bases[i];
        uint16_t mark[2];
        errno = 0;
        int got = modbus_read_registers(l->ctx, (int)base, 2, mark);
        if (got == 2 && mark[0] == SS_MARK_HI && mark[1] == SS_MARK_LO) {
            if (walk(l, base, err, errlen) < 0) {
                return -1;
            }
            const ss_model_ref_t *m1 = ss_chain_find(&l->chain, 1);
            uint16_t common[66];
            l->mn[0] = l->md[0] = l->sn[0] = '\0';
            if (m1 != NULL && m1->len >= 64 &&
                read_regs(l, m1->addr, 66, common, err, errlen) == 0) {
                copy_string(common + SS1_MN, l->mn);
                copy_string(common + SS1_MD, l->md);
                copy_string(common + SS1_SN, l->sn);
            }
            l->discovered = 1;
            return 0;
        }
        if (got < 0 && !is_exception(errno)) {
            return ss_fail(err, errlen, "probing for SunS at %u: %s", (unsigned)base,
                           modbus_strerror(errno));
        }
        int w = snprintf(tried + at, sizeof tried - at, "%s%u (%s)", at ? ", " : "", (unsigned)base,
                         got < 0 ? modbus_strerror(errno) : "no SunS marker");
        if (w > 0 && (size_t)w < sizeof tried - at) {
            at += (size_t)w;
        }
        if (l->base >= 0) {
            break;
        }
    }
    return ss_fail(err, errlen, "no SunSpec map found: tried %s", tried);
}

int ss_link_ensure(ss_link_t *l, int *discovered_now, char *err, size_t errlen)
{
    *discovered_now = 0;
    if (l->ctx != NULL && l->discovered) {
        return 0;
    }
    ss_link_close(l);
    char port[16];
    snprintf(port, sizeof port, "%d", l->port);
    modbus_t *ctx = modbus_new_tcp_pi(l->host, port);
    if (ctx == NULL) {
        return ss_fail(err, errlen, "modbus_new_tcp_pi(%s, %s): %s", l->host, port,
                       modbus_strerror(errno));
    }
    uint32_t s = (uint32_t)(l->timeout_ms / 1000), us = (uint32_t)(l->timeout_ms % 1000) * 1000u;
    modbus_set_response_timeout(ctx, s, us);
    modbus_set_byte_timeout(ctx, s, us);
    if (modbus_set_slave(ctx, l->unit_id) < 0) {
        int e = errno;
        modbus_free(ctx);
        return ss_fail(err, errlen, "unit id %d: %s", l->unit_id, modbus_strerror(e));
    }
    if (modbus_connect(ctx) < 0) {
        int e = errno;
        modbus_free(ctx);
        return ss_fail(err, errlen, "connecting to %s:%d: %s", l->host, l->port,
                       modbus_strerror(e));
    }
    l->ctx = ctx;
    if (discover(l, err, errlen) < 0) {
        ss_link_close(l);
        return -1;
    }
    *discovered_now = 1;
    return 0;
}

int ss_link_read_model(ss_link_t *l, uint16_t id, unsigned want, uint16_t *buf, size_t *n,
                       char *err, size_t errlen)
{
    const ss_model_ref_t *m = ss_chain_find(&l->chain, id);
    if (m == NULL) {
        return ss_fail(err, errlen, "model %u is not in the chain", (unsigned)id);
    }
    unsigned count = want;
    if (count > m->len + 2u) {
        count = m->len + 2u;
    }
    if (count > SS_MODEL_READ_MAX) {
        count = SS_MODEL_READ_MAX;
    }
    if (read_regs(l, m->addr, count, buf, err, errlen) < 0) {
        return -1;
    }
    if (buf[0] != id) {
        /* The device rebooted with another map: discover again on the next job. */
        l->discovered = 0;
        return ss_fail(err, errlen, "model %u expected at %u, found %u: the map changed",
                       (unsigned)id, (unsigned)m->addr, (unsigned)buf[0]);
    }
    *n = count;
    return 0;
}

int ss_link_write(ss_link_t *l, uint16_t id, const ss_write_t *w, char *err, size_t errlen)
{
    const ss_model_ref_t *m = ss_chain_find(&l->chain, id);
    if (m == NULL) {
        return ss_fail(err, errlen, "model %u is not in the chain", (unsigned)id);
    }
    if (w->off + w->n > m->len + 2u) {
        return ss_fail(err, errlen, "write at %u+%u is outside model %u", w->off, w->n,
                       (unsigned)id);
    }
    int got = modbus_write_registers(l->ctx, (int)(m->addr + w->off), (int)w->n, w->v);
    if (got != (int)w->n) {
        return ss_fail(err, errlen, "writing %u registers at %u (model %u offset %u): %s", w->n,
                       (unsigned)(m->addr + w->off), (unsigned)id, w->off,
                       got < 0 ? modbus_strerror(errno) : "short answer");
    }
    return 0;
}
