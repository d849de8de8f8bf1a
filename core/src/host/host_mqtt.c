/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The plugin host's MQTT side: topic validation and matching, publish, subscriptions, delivery.
 * Loop thread. A held instance (gridems__instance_hold) is not delivered to; every message
 * callback that runs is reported (gridems__callback_ran). */
#include <stdlib.h>
#include <string.h>

#include "gridems/errors.h"
#include "host_internal.h"

typedef struct plugin_sub_s {
    gridems__link_t link; /* in host->subs */
    gridems_plugin_t *inst;
    char *filter;
    gridems_message_fn fn;
    void *arg;
    int dead; /* unsubscribed; unlinked once no delivery is on the stack */
} plugin_sub_t;

/* ---- ## Subscriptions ---- */

void gridems__mqtt_sweep(gridems__host_t *host)
{
    gridems__link_t *l = host->subs.next;
    while (l != &host->subs) {
        plugin_sub_t *s = GRIDEMS__CONTAINER_OF(l, plugin_sub_t, link);
        l = l->next;
        if (s->dead) {
            gridems__list_remove(&s->link);
            free(s->filter);
            free(s);
        }
    }
    host->subs_dirty = 0;
}

static bool filter_in_use(gridems__host_t *host, const char *filter)
{
    for (gridems__link_t *l = host->subs.next; l != &host->subs; l = l->next) {
        plugin_sub_t *s = GRIDEMS__CONTAINER_OF(l, plugin_sub_t, link);
        if (!s->dead && strcmp(s->filter, filter) == 0) {
            return true;
        }
    }
    return false;
}

static void sub_remove(gridems__host_t *host, plugin_sub_t *s)
{
    s->dead = 1;
    if (!filter_in_use(host, s->filter) && host->services.unsubscribe != NULL) {
        host->services.unsubscribe(host->services.ctx, s->filter);
    }
    if (host->delivering > 0) {
        host->subs_dirty = 1; /* a delivery loop may be standing on this entry */
    } else {
        gridems__list_remove(&s->link);
        free(s->filter);
        free(s);
    }
}

void gridems__mqtt_drop_instance(gridems_plugin_t *inst)
{
    gridems__host_t *host = inst->host;
    for (gridems__link_t *l = host->subs.next; l != &host->subs;) {
        plugin_sub_t *s = GRIDEMS__CONTAINER_OF(l, plugin_sub_t, link);
        l = l->next; /* sub_remove may unlink s */
        if (s->inst == inst && !s->dead) {
            sub_remove(host, s);
        }
    }
}

/* ---- ## Topics ---- */

bool gridems__topic_name_valid(const char *topic)
{
    if (topic == NULL || topic[0] == '\0') {
        return false;
    }
    size_t n = strlen(topic);
    return n <= GRIDEMS__TOPIC_MAX && strpbrk(topic, "+#") == NULL;
}

bool gridems__topic_filter_valid(const char *filter)
{
    if (filter == NULL || filter[0] == '\0' || strlen(filter) > GRIDEMS__TOPIC_MAX) {
        return false;
    }
    for (const char *p = filter; *p != '\0'; p++) {
        bool level_start = p == filter || p[-1] == '/';
        bool level_end = p[1] == '\0' || p[1] == '/';
        if (*p == '+' && !(level_start && level_end)) {
            return false;
        }
        if (*p == '#' && !(level_start && p[1] == '\0')) {
            return false;
        }
    }
    return true;
}

bool gridems__topic_matches(const char *filter, const char *topic)
{
    /* MQTT 3.1.1 section 4.7.2: wildcards at the first level never match "$SYS"-like topics. */
    if (topic[0] == '$' && (filter[0] == '+' || filter[0] == '#')) {
        return false;
    }
    const char *f = filter;
    const char *t = topic;
    for (;;) {
        size_t flen = strcspn(f, "/");
        size_t tlen = strcspn(t, "/");
        if (flen == 1 && f[0] == '#') {
            return true; /* this level and everything below it */
        }
        bool plus = flen == 1 && f[0] == '+';
        if (!plus && (flen != tlen || memcmp(f, t, flen) != 0)) {
            return false;
        }
        bool f_more = f[flen] == '/';
        bool t_more = t[tlen] == '/';
        if (!t_more) {
            /* The topic ends here: a match if the filter ends too, or goes on with just "/#",
             * which also matches its parent level. */
            return !f_more || strcmp(f + flen, "/#") == 0;
        }
        if (!f_more) {
            return false;
        }
        f += flen + 1;
        t += tlen + 1;
    }
}

int gridems__host_deliver(gridems__host_t *host, const char *topic, const void *payload, size_t len,
                          int qos, int retained)
{
    if (!gridems__topic_name_valid(topic) || (payload == NULL && len > 0) || len == SIZE_MAX) {
        return GRIDEMS_EINVAL;
    }
    if (gridems__list_empty(&host->subs)) {
        return 0;
    }
    char *copy = NULL;
    int delivered = 0;
    int rc = 0;
    host->delivering++;
    /* Entries appended by a callback during this delivery do not see this message. */
    gridems__link_t *last = host->subs.prev;
    for (gridems__link_t *l = host->subs.next; l != &host->subs; l = l->next) {
        plugin_sub_t *s = GRIDEMS__CONTAINER_OF(l, plugin_sub_t, link);
        if (!s->dead && s->inst->state == GRIDEMS__INST_ACTIVE && !s->inst->held &&
            gridems__topic_matches(s->filter, topic)) {
            if (copy == NULL) {
                copy = malloc(len + 1);
                if (copy == NULL) {
                    rc = GRIDEMS_ENOMEM;
                    break;
                }
                if (len > 0) {
                    memcpy(copy, payload, len);
                }
                copy[len] = '\0';
            }
            gridems_message_t msg = {sizeof msg, topic, copy, len, qos, retained, {NULL, NULL}};
            uint64_t t0 = uv_hrtime();
            s->fn(s->inst, &msg, s->arg);
            gridems__callback_ran(s->inst, "message callback", t0);
            delivered++;
        }
        if (l == last) {
            break;
        }
    }
    host->delivering--;
    if (host->delivering == 0 && host->subs_dirty) {
        gridems__mqtt_sweep(host);
    }
    free(copy);
    return rc < 0 ? rc : delivered;
}

int gridems__host_foreach_filter(gridems__host_t *host, int (*fn)(void *arg, const char *filter),
                                 void *arg)
{
    for (gridems__link_t *l = host->subs.next; l != &host->subs; l = l->next) {
        plugin_sub_t *s = GRIDEMS__CONTAINER_OF(l, plugin_sub_t, link);
        if (s->dead) {
            continue;
        }
        bool seen = false;
        for (gridems__link_t *e = host->subs.next; e != l; e = e->next) {
            plugin_sub_t *earlier = GRIDEMS__CONTAINER_OF(e, plugin_sub_t, link);
            if (!earlier->dead && strcmp(earlier->filter, s->filter) == 0) {
                seen = true;
                break;
            }
        }
        if (!seen) {
            int rc = fn(arg, s->filter);
            if (rc != 0) {
                return rc;
            }
        }
    }
    return 0;
}

/* ---- ## What the API table's entries do ---- */

int gridems__publish(gridems_plugin_t *self, const char *topic, const void *payload, size_t len,
                     int qos, int retain)
{
    if (!gridems__topic_name_valid(topic) || (payload == NULL && len > 0) || qos < 0 || qos > 2 ||
        (retain != 0 && retain != 1)) {
        return GRIDEMS_EINVAL;
    }
    gridems__host_t *host = self->host;
    if (host->services.publish == NULL) {
        return GRIDEMS_ESTATE;
    }
    return host->services.publish(host->services.ctx, topic, payload, len, qos, retain);
}

static plugin_sub_t *find_sub(gridems_plugin_t *self, const char *filter, gridems_message_fn fn,
                              void *arg)
{
    gridems__host_t *host = self->host;
    for (gridems__link_t *l = host->subs.next; l != &host->subs; l = l->next) {
        plugin_sub_t *s = GRIDEMS__CONTAINER_OF(l, plugin_sub_t, link);
        if (!s->dead && s->inst == self && s->fn == fn && s->arg == arg &&
            strcmp(s->filter, filter) == 0) {
            return s;
        }
    }
    return NULL;
}

int gridems__subscribe(gridems_plugin_t *self, const char *topic_filter, gridems_message_fn fn,
                       void *arg)
{
    if (fn == NULL || !gridems__topic_filter_valid(topic_filter)) {
        return GRIDEMS_EINVAL;
    }
    if (self->state == GRIDEMS__INST_CLOSING) {
        return GRIDEMS_ESTATE;
    }
    if (find_sub(self, topic_filter, fn, arg) != NULL) {
        return GRIDEMS_EEXIST;
    }
    gridems__host_t *host = self->host;
    plugin_sub_t *s = calloc(1, sizeof *s);
    if (s == NULL || (s->filter = strdup(topic_filter)) == NULL) {
        free(s);
        return GRIDEMS_ENOMEM;
    }
    if (!filter_in_use(host, topic_filter) && host->services.subscribe != NULL) {
        int rc = host->services.subscribe(host->services.ctx, topic_filter);
        if (rc < 0) {
            free(s->filter);
            free(s);
            return rc;
        }
    }
    s->inst = self;
    s->fn = fn;
    s->arg = arg;
    gridems__list_insert_tail(&host->subs, &s->link);
    return 0;
}

int gridems__unsubscribe(gridems_plugin_t *self, const char *topic_filter, gridems_message_fn fn,
                         void *arg)
{
    if (topic_filter == NULL) {
        return GRIDEMS_EINVAL;
    }
    plugin_sub_t *s = find_sub(self, topic_filter, fn, arg);
    if (s == NULL) {
        return GRIDEMS_ENOENT;
    }
    sub_remove(self->host, s);
    return 0;
}
