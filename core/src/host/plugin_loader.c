/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The plugin loader: signature, dlopen, version negotiation, option validation, init, unload. */
#include "plugin_loader.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error_text.h"
#include "gridems/errors.h"
#include "host_internal.h"
#include "log.h"
#include "optimizer_internal.h"
#include "plugin_dir.h"
#include "trust.h"

/* Sanity bounds on what a plugin declares. */
#define MAX_CONTEXT_SIZE (1024u * 1024u)
/* Bounds on the ELF data read before dlopen. */
#define MAX_SECTIONS 65536u
#define MAX_SHSTRTAB (4u * 1024u * 1024u)

const char *gridems__host_signature(void)
{
    return GRIDEMS_PLUGIN_SIGNATURE;
}

const char *gridems__option_type_name(int type)
{
    switch (type) {
    case GRIDEMS_OPT_STRING:
        return "string";
    case GRIDEMS_OPT_INT:
        return "int";
    case GRIDEMS_OPT_DOUBLE:
        return "double";
    case GRIDEMS_OPT_BOOL:
        return "bool";
    default:
        return "?";
    }
}

/* ---- ## Reading the signature from the ELF file ---- */

static int read_at(int fd, void *buf, size_t len, off_t off)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

/* Whether [off, off + len) lies inside a file of `size` bytes, without overflow. */
static bool in_file(uint64_t off, uint64_t len, uint64_t size)
{
    return off <= size && len <= size - off;
}

#define MISSING_SIGNATURE_FMT                                                                      \
    "plugin %s is not binary compatible (no " GRIDEMS_PLUGIN_SIGNATURE_SECTION                     \
    " section: build it against gridems/plugin.h with GRIDEMS_PLUGIN_DECLARE_VERSION)"

/* Find the signature section. fd is an open ELF file of the host's class; size its length. */
static int find_signature(int fd, uint64_t size, const char *path, char *sig, size_t siglen,
                          char *err, size_t errlen)
{
    ElfW(Ehdr) eh;
    if (read_at(fd, &eh, sizeof eh, 0) != 0) {
        gridems_set_err(err, errlen, "plugin %s is not an ELF shared object (truncated header)",
                        path);
        return GRIDEMS_EABI;
    }
    if (eh.e_type != ET_DYN) {
        gridems_set_err(err, errlen, "plugin %s is not a shared object", path);
        return GRIDEMS_EABI;
    }
    if (eh.e_shoff == 0 || eh.e_shentsize != sizeof(ElfW(Shdr))) {
        gridems_set_err(err, errlen, MISSING_SIGNATURE_FMT, path);
        return GRIDEMS_EABI;
    }
    ElfW(Shdr) first;
    if (!in_file(eh.e_shoff, sizeof first, size) ||
        read_at(fd, &first, sizeof first, (off_t)eh.e_shoff) != 0) {
        gridems_set_err(err, errlen, "plugin %s is not an ELF shared object (bad section table)",
                        path);
        return GRIDEMS_EABI;
    }
    /* Large section counts and string-table indexes spill into the first section header. */
    uint64_t shnum = eh.e_shnum != 0 ? eh.e_shnum : first.sh_size;
    uint64_t shstrndx = eh.e_shstrndx != SHN_XINDEX ? eh.e_shstrndx : first.sh_link;
    if (shnum == 0 || shnum > MAX_SECTIONS || shstrndx >= shnum ||
        !in_file(eh.e_shoff, shnum * sizeof(ElfW(Shdr)), size)) {
        gridems_set_err(err, errlen, "plugin %s is not an ELF shared object (bad section table)",
                        path);
        return GRIDEMS_EABI;
    }
    ElfW(Shdr) *sh = malloc(shnum * sizeof *sh);
    if (sh == NULL) {
        return GRIDEMS_ENOMEM;
    }
    char *names = NULL;
    int rc = GRIDEMS_EABI;
    if (read_at(fd, sh, shnum * sizeof *sh, (off_t)eh.e_shoff) != 0) {
        gridems_set_err(err, errlen, "plugin %s is not an ELF shared object (bad section table)",
                        path);
        goto out;
    }
    const ElfW(Shdr) *strtab = &sh[shstrndx];
    if (strtab->sh_size == 0 || strtab->sh_size > MAX_SHSTRTAB ||
        !in_file(strtab->sh_offset, strtab->sh_size, size)) {
        gridems_set_err(err, errlen, "plugin %s is not an ELF shared object (bad section names)",
                        path);
        goto out;
    }
    names = malloc(strtab->sh_size + 1);
    if (names == NULL) {
        rc = GRIDEMS_ENOMEM;
        goto out;
    }
    if (read_at(fd, names, strtab->sh_size, (off_t)strtab->sh_offset) != 0) {
        gridems_set_err(err, errlen, "plugin %s is not an ELF shared object (bad section names)",
                        path);
        goto out;
    }
    names[strtab->sh_size] = '\0';
    for (uint64_t i = 0; i < shnum; i++) {
        if (sh[i].sh_name >= strtab->sh_size ||
            strcmp(names + sh[i].sh_name, GRIDEMS_PLUGIN_SIGNATURE_SECTION) != 0) {
            continue;
        }
        char buf[GRIDEMS_PLUGIN_SIGNATURE_MAX];
        uint64_t len = sh[i].sh_size < sizeof buf ? sh[i].sh_size : sizeof buf;
        if (sh[i].sh_type == SHT_NOBITS || len == 0 || !in_file(sh[i].sh_offset, len, size) ||
            read_at(fd, buf, len, (off_t)sh[i].sh_offset) != 0 || memchr(buf, '\0', len) == NULL) {
            gridems_set_err(err, errlen,
                            "plugin %s is not binary compatible (unreadable signature)", path);
            goto out;
        }
        if (strlen(buf) >= siglen) {
            gridems_set_err(err, errlen, "plugin %s is not binary compatible (signature too long)",
                            path);
            goto out;
        }
        memcpy(sig, buf, strlen(buf) + 1);
        rc = 0;
        goto out;
    }
    gridems_set_err(err, errlen, MISSING_SIGNATURE_FMT, path);
out:
    free(names);
    free(sh);
    return rc;
}

int gridems__plugin_read_signature(const char *path, char *sig, size_t siglen, char *err,
                                   size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        gridems_set_err(err, errlen, "plugin %s cannot be opened: %s", path, strerror(e));
        return e == ENOENT ? GRIDEMS_ENOENT : GRIDEMS_EABI;
    }
    struct stat st;
    unsigned char ident[EI_NIDENT];
    int rc = GRIDEMS_EABI;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        gridems_set_err(err, errlen, "plugin %s is not a regular file", path);
    } else if (read_at(fd, ident, sizeof ident, 0) != 0 || memcmp(ident, ELFMAG, SELFMAG) != 0) {
        gridems_set_err(err, errlen, "plugin %s is not an ELF shared object", path);
    } else if (ident[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32)) {
        gridems_set_err(
            err, errlen, "plugin %s is not binary compatible (%s ELF object, host is %d-bit)", path,
            ident[EI_CLASS] == ELFCLASS64 ? "64-bit" : "32-bit", (int)(8 * sizeof(void *)));
    } else if (ident[EI_DATA] !=
               (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB)) {
        gridems_set_err(err, errlen, "plugin %s is not binary compatible (foreign byte order)",
                        path);
    } else {
        rc = find_signature(fd, (uint64_t)st.st_size, path, sig, siglen, err, errlen);
    }
    close(fd);
    return rc;
}

/* ---- ## Opening and checking a plugin ---- */

static bool plugin_name_valid(const char *s)
{
    if (s == NULL || s[0] == '\0' || strlen(s) >= GRIDEMS__IDENT_MAX) {
        return false;
    }
    for (const char *p = s; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) {
            return false;
        }
    }
    return true;
}

static int parse_int_text(const char *text, int64_t *out)
{
    errno = 0;
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_double_text(const char *text, double *out)
{
    errno = 0;
    char *end = NULL;
    double v = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !isfinite(v)) {
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_bool_text(const char *text, int *out)
{
    if (strcmp(text, "true") == 0) {
        *out = 1;
        return 0;
    }
    if (strcmp(text, "false") == 0) {
        *out = 0;
        return 0;
    }
    return -1;
}

static size_t option_storage_size(int type)
{
    switch (type) {
    case GRIDEMS_OPT_STRING:
        return sizeof(const char *);
    case GRIDEMS_OPT_INT:
        return sizeof(int64_t);
    case GRIDEMS_OPT_DOUBLE:
        return sizeof(double);
    default:
        return sizeof(int);
    }
}

static size_t option_storage_align(int type)
{
    switch (type) {
    case GRIDEMS_OPT_STRING:
        return _Alignof(const char *);
    case GRIDEMS_OPT_INT:
        return _Alignof(int64_t);
    case GRIDEMS_OPT_DOUBLE:
        return _Alignof(double);
    default:
        return _Alignof(int);
    }
}

/* Check gridems_plugin_info and copy its option table; err names the path and the problem. */
static int check_info(gridems__plugin_lib_t *lib, const void *pinfo, char *err, size_t errlen)
{
    const char *path = lib->path;
    /* The layout is the adapter's business: it copies the info and the option table into the
     * host's structs, by the plugin's struct_size and option_size. */
    int rc =
        lib->abi->read_info(pinfo, path, &lib->info, &lib->options, &lib->n_options, err, errlen);
    if (rc < 0) {
        return rc;
    }
    const gridems_plugin_info_t *info = &lib->info;
    if (!plugin_name_valid(info->name)) {
        gridems_set_err(
            err, errlen,
            "plugin %s: gridems_plugin_info.name must be 1 to 63 characters of [a-z0-9_]", path);
        return GRIDEMS_EABI;
    }
    uint32_t known = GRIDEMS_CLASS_BIT(GRIDEMS_DEV_BATTERY) | GRIDEMS_CLASS_BIT(GRIDEMS_DEV_METER) |
                     GRIDEMS_CLASS_BIT(GRIDEMS_DEV_FLEX_LOAD);
    if (info->classes == 0 || (info->classes & ~known) != 0) {
        gridems_set_err(err, errlen,
                        "plugin %s: gridems_plugin_info.classes 0x%x is not a set of known "
                        "GRIDEMS_CLASS_BIT(GRIDEMS_DEV_*) bits",
                        path, (unsigned)info->classes);
        return GRIDEMS_EABI;
    }
    if (info->context_size > MAX_CONTEXT_SIZE) {
        gridems_set_err(err, errlen, "plugin %s: context_size %zu is larger than 1 MiB", path,
                        info->context_size);
        return GRIDEMS_EABI;
    }
    size_t n = lib->n_options;
    for (size_t i = 0; i < n; i++) {
        gridems_option_t *o = &lib->options[i];
        if (!gridems__ident_valid(o->key)) {
            gridems_set_err(err, errlen,
                            "plugin %s: option %zu: key must be 1 to 63 characters of "
                            "[A-Za-z0-9_.-]",
                            path, i);
            return GRIDEMS_EABI;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(lib->options[j].key, o->key) == 0) {
                gridems_set_err(err, errlen, "plugin %s: option \"%s\" is declared twice", path,
                                o->key);
                return GRIDEMS_EABI;
            }
        }
        if (o->type < GRIDEMS_OPT_STRING || o->type > GRIDEMS_OPT_BOOL) {
            gridems_set_err(err, errlen, "plugin %s: option \"%s\" has unknown type %d", path,
                            o->key, (int)o->type);
            return GRIDEMS_EABI;
        }
        if (o->required != 0 && o->required != 1) {
            gridems_set_err(err, errlen, "plugin %s: option \"%s\": required must be 0 or 1", path,
                            o->key);
            return GRIDEMS_EABI;
        }
        if (o->required && o->def != NULL) {
            gridems_set_err(err, errlen, "plugin %s: option \"%s\" is required and has a default",
                            path, o->key);
            return GRIDEMS_EABI;
        }
        if (o->def != NULL) {
            int64_t i64;
            double d;
            int b;
            int bad = (o->type == GRIDEMS_OPT_INT && parse_int_text(o->def, &i64) != 0) ||
                      (o->type == GRIDEMS_OPT_DOUBLE && parse_double_text(o->def, &d) != 0) ||
                      (o->type == GRIDEMS_OPT_BOOL && parse_bool_text(o->def, &b) != 0);
            if (bad) {
                gridems_set_err(err, errlen,
                                "plugin %s: option \"%s\": default \"%s\" is not a valid %s", path,
                                o->key, o->def, gridems__option_type_name(o->type));
                return GRIDEMS_EABI;
            }
        }
        if (o->offset != GRIDEMS_OPT_NO_OFFSET) {
            size_t sz = option_storage_size(o->type);
            if (o->offset > info->context_size || sz > info->context_size - o->offset ||
                o->offset % option_storage_align(o->type) != 0) {
                gridems_set_err(err, errlen,
                                "plugin %s: option \"%s\": offset %zu does not hold a %s inside "
                                "context_size %zu",
                                path, o->key, o->offset, gridems__option_type_name(o->type),
                                info->context_size);
                return GRIDEMS_EABI;
            }
        }
    }
    return 0;
}

void gridems__plugin_lib_close(gridems__plugin_lib_t *lib)
{
    if (lib->dl != NULL) {
        dlclose(lib->dl);
    }
    free(lib->path);
    free(lib->options);
    memset(lib, 0, sizeof *lib);
}

int gridems__plugin_open(const char *path, gridems__plugin_lib_t *lib, char *err, size_t errlen)
{
    memset(lib, 0, sizeof *lib);
    if (path == NULL || path[0] == '\0') {
        gridems_set_err(err, errlen, "plugin path is empty");
        return GRIDEMS_EINVAL;
    }
    /* dlopen() searches the library path for a name without '/': never let it. */
    size_t plen = strlen(path);
    lib->path = malloc(plen + 3);
    if (lib->path == NULL) {
        return GRIDEMS_ENOMEM;
    }
    snprintf(lib->path, plen + 3, "%s%s", strchr(path, '/') != NULL ? "" : "./", path);

    /* 0. Trust, as sshd's StrictModes: code that others can replace is never loaded. A missing
     * file falls through to the signature check, which says so in its usual words. */
    int rc = gridems__code_trusted(lib->path, err, errlen);
    if (rc < 0 && rc != GRIDEMS_ENOENT) {
        goto fail;
    }
    /* 1. The signature, before the dynamic linker runs anything of the plugin. */
    rc = gridems__plugin_read_signature(lib->path, lib->signature, sizeof lib->signature, err,
                                        errlen);
    if (rc < 0) {
        goto fail;
    }
    if (strcmp(lib->signature, gridems__host_signature()) != 0) {
        gridems_set_err(err, errlen,
                        "plugin %s is not binary compatible (signature \"%s\" != host \"%s\")",
                        lib->path, lib->signature, gridems__host_signature());
        rc = GRIDEMS_EABI;
        goto fail;
    }

    /* 2. Load it and find the entry points. */
    dlerror();
    lib->dl = dlopen(lib->path, RTLD_NOW | RTLD_LOCAL);
    if (lib->dl == NULL) {
        const char *why = dlerror();
        gridems_set_err(err, errlen, "plugin %s could not be loaded: %s", lib->path,
                        why != NULL ? why : "unknown dlopen error");
        rc = GRIDEMS_EPLUGIN;
        goto fail;
    }
    const char *exported_sig = dlsym(lib->dl, "gridems_plugin_signature");
    if (exported_sig == NULL || strncmp(exported_sig, lib->signature, sizeof lib->signature) != 0) {
        gridems_set_err(err, errlen, "plugin %s is not binary compatible (%s)", lib->path,
                        exported_sig == NULL ? "gridems_plugin_signature is not exported"
                                             : "exported signature differs from its ELF section");
        rc = GRIDEMS_EABI;
        goto fail;
    }
    int (*version_fn)(int, const int *) =
        (int (*)(int, const int *))dlsym(lib->dl, "gridems_plugin_version");
    if (version_fn == NULL) {
        gridems_set_err(err, errlen, "plugin %s does not export gridems_plugin_version", lib->path);
        rc = GRIDEMS_EABI;
        goto fail;
    }

    /* 3. Version negotiation. */
    /* The majors of the adapters this host has (host_abi.h), newest first. */
    int supported[8];
    char listed[64] = "";
    int n_supported = gridems__abi_n_adapters < 8 ? gridems__abi_n_adapters : 8;
    for (int i = 0; i < n_supported; i++) {
        supported[i] = gridems__abi_adapters[i]->major;
        size_t used = strlen(listed);
        snprintf(listed + used, sizeof listed - used, "%s%d", i > 0 ? ", " : "", supported[i]);
    }
    int major = version_fn(n_supported, supported);
    lib->abi = NULL;
    for (int i = 0; i < n_supported && lib->abi == NULL; i++) {
        if (major == supported[i]) {
            lib->abi = gridems__abi_find(major);
        }
    }
    if (lib->abi == NULL) {
        if (major < 0) {
            gridems_set_err(
                err, errlen,
                "plugin %s implements none of the plugin ABI versions this host supports "
                "(%s)",
                lib->path, listed);
        } else {
            gridems_set_err(err, errlen,
                            "plugin %s answered plugin ABI %d, which this host did not offer (%s)",
                            lib->path, major, listed);
        }
        rc = GRIDEMS_EABI;
        goto fail;
    }
    lib->abi_major = major;

    /* 4. Identity, option table and the remaining entry points. */
    const void *pinfo = dlsym(lib->dl, "gridems_plugin_info");
    if (pinfo == NULL) {
        gridems_set_err(err, errlen, "plugin %s does not export gridems_plugin_info", lib->path);
        rc = GRIDEMS_EABI;
        goto fail;
    }
    lib->init_fn =
        (int (*)(gridems_plugin_t *, const gridems_host_api_t *, const gridems_config_t *,
                 void **))dlsym(lib->dl, "gridems_plugin_init");
    if (lib->init_fn == NULL) {
        gridems_set_err(err, errlen, "plugin %s does not export gridems_plugin_init", lib->path);
        rc = GRIDEMS_EABI;
        goto fail;
    }
    lib->cleanup_fn =
        (void (*)(gridems_plugin_t *, void *))dlsym(lib->dl, "gridems_plugin_cleanup");
    rc = check_info(lib, pinfo, err, errlen);
    if (rc < 0) {
        goto fail;
    }
    return 0;
fail:
    gridems__plugin_lib_close(lib);
    return rc;
}

/* ---- ## Instance options ---- */

static void free_optvals(gridems__optval_t *vals, size_t n)
{
    if (vals == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (vals[i].opt.type == GRIDEMS_OPT_STRING) {
            free(vals[i].v.s);
        }
    }
    free(vals);
}

/*
 * Validate `options` (a JSON object or NULL) against the table and produce the values. who is
 * "plugin bess1 (battery_sim)". Returns 0, GRIDEMS_ECONFIG or GRIDEMS_ENOMEM; *out is owned by
 * the caller on success (free_optvals).
 */
static int validate_options(const gridems__plugin_lib_t *lib, const cJSON *options, const char *who,
                            gridems__optval_t **out, const char **bad_key, char *err, size_t errlen)
{
    /* Every given key must be in the table, once. */
    for (const cJSON *item = options != NULL ? options->child : NULL; item != NULL;
         item = item->next) {
        bool known = false;
        for (size_t i = 0; i < lib->n_options && !known; i++) {
            known = strcmp(lib->options[i].key, item->string) == 0;
        }
        if (!known) {
            *bad_key = item->string;
            gridems_set_err(err, errlen, "%s: unknown option \"%s\"", who, item->string);
            return GRIDEMS_ECONFIG;
        }
        for (const cJSON *prev = options->child; prev != item; prev = prev->next) {
            if (strcmp(prev->string, item->string) == 0) {
                *bad_key = item->string;
                gridems_set_err(err, errlen, "%s: option \"%s\" is given twice", who, item->string);
                return GRIDEMS_ECONFIG;
            }
        }
    }
    gridems__optval_t *vals = calloc(lib->n_options > 0 ? lib->n_options : 1, sizeof *vals);
    if (vals == NULL) {
        return GRIDEMS_ENOMEM;
    }
    for (size_t i = 0; i < lib->n_options; i++) {
        gridems__optval_t *v = &vals[i];
        v->opt = lib->options[i];
        const char *key = v->opt.key;
        const cJSON *item = options != NULL ? cJSON_GetObjectItemCaseSensitive(options, key) : NULL;
        if (item == NULL) {
            if (v->opt.required) {
                *bad_key = key;
                gridems_set_err(err, errlen, "%s: missing required option \"%s\"", who, key);
                free_optvals(vals, lib->n_options);
                return GRIDEMS_ECONFIG;
            }
            if (v->opt.def == NULL) {
                continue;
            }
            /* Defaults were checked when the plugin was opened. */
            v->set = 1;
            switch (v->opt.type) {
            case GRIDEMS_OPT_STRING:
                v->v.s = strdup(v->opt.def);
                if (v->v.s == NULL) {
                    free_optvals(vals, lib->n_options);
                    return GRIDEMS_ENOMEM;
                }
                break;
            case GRIDEMS_OPT_INT:
                parse_int_text(v->opt.def, &v->v.i);
                break;
            case GRIDEMS_OPT_DOUBLE:
                parse_double_text(v->opt.def, &v->v.d);
                break;
            default:
                parse_bool_text(v->opt.def, &v->v.b);
                break;
            }
            continue;
        }
        const char *expected = NULL;
        switch (v->opt.type) {
        case GRIDEMS_OPT_STRING:
            if (!cJSON_IsString(item) || item->valuestring == NULL) {
                expected = "a string";
            } else if ((v->v.s = strdup(item->valuestring)) == NULL) {
                free_optvals(vals, lib->n_options);
                return GRIDEMS_ENOMEM;
            }
            break;
        case GRIDEMS_OPT_INT:
            /* cJSON keeps numbers as doubles: an integer is one without a fraction that fits. */
            if (!cJSON_IsNumber(item)) {
                expected = "an integer";
            } else if (item->valuedouble != floor(item->valuedouble) ||
                       item->valuedouble < -9223372036854775808.0 ||
                       item->valuedouble >= 9223372036854775808.0) {
                *bad_key = key;
                gridems_set_err(err, errlen, "%s: option \"%s\": expected an integer, got %.17g",
                                who, key, item->valuedouble);
                free_optvals(vals, lib->n_options);
                return GRIDEMS_ECONFIG;
            } else {
                v->v.i = (int64_t)item->valuedouble;
            }
            break;
        case GRIDEMS_OPT_DOUBLE:
            if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble)) {
                expected = "a number";
            } else {
                v->v.d = item->valuedouble;
            }
            break;
        default:
            if (!cJSON_IsBool(item)) {
                expected = "a boolean";
            } else {
                v->v.b = cJSON_IsTrue(item) ? 1 : 0;
            }
            break;
        }
        if (expected != NULL) {
            *bad_key = key;
            gridems_set_err(err, errlen, "%s: option \"%s\": expected %s, got %s", who, key,
                            expected, gridems__json_type_name(item));
            free_optvals(vals, lib->n_options);
            return GRIDEMS_ECONFIG;
        }
        v->set = 1;
    }
    *out = vals;
    return 0;
}

/* Store every set option at its offset in the context struct. */
static void fill_context(void *context, const gridems__optval_t *vals, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const gridems__optval_t *v = &vals[i];
        if (!v->set || v->opt.offset == GRIDEMS_OPT_NO_OFFSET) {
            continue;
        }
        char *at = (char *)context + v->opt.offset;
        switch (v->opt.type) {
        case GRIDEMS_OPT_STRING: {
            const char *s = v->v.s;
            memcpy(at, &s, sizeof s);
            break;
        }
        case GRIDEMS_OPT_INT:
            memcpy(at, &v->v.i, sizeof v->v.i);
            break;
        case GRIDEMS_OPT_DOUBLE:
            memcpy(at, &v->v.d, sizeof v->v.d);
            break;
        default:
            memcpy(at, &v->v.b, sizeof v->v.b);
            break;
        }
    }
}

/* ---- ## Loading and unloading instances ---- */

/* The last step of an instance, from the host once nothing of the plugin is left running. */
static void instance_closed(gridems_plugin_t *inst)
{
    gridems__done_cb cb = inst->unload_cb;
    void *arg = inst->unload_arg;
    free_optvals(inst->opts, inst->n_opts);
    free(inst->context);
    if (inst->dl != NULL) {
        dlclose(inst->dl);
    }
    gridems_log_debug("%s unloaded", inst->prefix);
    free(inst->name);
    free(inst->path);
    free(inst);
    if (cb != NULL) {
        cb(arg);
    }
}

static bool instance_name_taken(gridems__host_t *host, const char *name)
{
    for (gridems__link_t *l = host->instances.next; l != &host->instances; l = l->next) {
        gridems_plugin_t *inst = GRIDEMS__CONTAINER_OF(l, gridems_plugin_t, link);
        if (inst->state != GRIDEMS__INST_CLOSING && strcmp(inst->name, name) == 0) {
            return true;
        }
    }
    return false;
}

/* Read and check the instance's own members; *path is returned, caller frees with free(). */
static int resolve_instance(const cJSON *instance, const char *plugin_dir, const char **name,
                            const cJSON **options, char **path, char *err, size_t errlen)
{
    if (!cJSON_IsObject(instance)) {
        gridems_set_err(err, errlen, "plugin instance: expected an object");
        return GRIDEMS_ECONFIG;
    }
    const cJSON *jname = cJSON_GetObjectItemCaseSensitive(instance, "name");
    const cJSON *jplugin = cJSON_GetObjectItemCaseSensitive(instance, "plugin");
    const cJSON *jpath = cJSON_GetObjectItemCaseSensitive(instance, "path");
    const cJSON *jopts = cJSON_GetObjectItemCaseSensitive(instance, "options");
    const char *plugin = cJSON_IsString(jplugin) ? jplugin->valuestring : NULL;
    if (!cJSON_IsString(jname) || !gridems__ident_valid(jname->valuestring)) {
        gridems_set_err(
            err, errlen,
            "plugin instance%s%s: \"name\" must be 1 to 63 characters of [A-Za-z0-9_.-]",
            plugin != NULL ? " of " : "", plugin != NULL ? plugin : "");
        return GRIDEMS_ECONFIG;
    }
    *name = jname->valuestring;
    if (jplugin != NULL && !plugin_name_valid(plugin)) {
        gridems_set_err(err, errlen,
                        "plugin %s: \"plugin\" must be 1 to 63 characters of [a-z0-9_]", *name);
        return GRIDEMS_ECONFIG;
    }
    if (jpath != NULL && (!cJSON_IsString(jpath) || jpath->valuestring[0] == '\0')) {
        gridems_set_err(err, errlen, "plugin %s: \"path\" must be a non-empty string", *name);
        return GRIDEMS_ECONFIG;
    }
    if (jplugin == NULL && jpath == NULL) {
        gridems_set_err(err, errlen, "plugin %s: give \"plugin\" (a name) or \"path\" (a file)",
                        *name);
        return GRIDEMS_ECONFIG;
    }
    if (jopts != NULL && !cJSON_IsObject(jopts)) {
        gridems_set_err(err, errlen, "plugin %s: \"options\" must be an object, got %s", *name,
                        gridems__json_type_name(jopts));
        return GRIDEMS_ECONFIG;
    }
    *options = jopts;
    if (jpath != NULL) {
        *path = strdup(jpath->valuestring);
    } else {
        const char *dir = plugin_dir != NULL ? plugin_dir : gridems__default_plugin_dir();
        size_t len = strlen(dir) + strlen(plugin) + sizeof "/gridems_.so";
        *path = malloc(len);
        if (*path != NULL) {
            snprintf(*path, len, "%s/gridems_%s.so", dir, plugin);
        }
    }
    return *path != NULL ? 0 : GRIDEMS_ENOMEM;
}

static int load_instance(gridems__host_t *host, const cJSON *instance, const char *plugin_dir,
                         gridems_plugin_t **out, char *err, size_t errlen)
{
    const char *name = NULL;
    const cJSON *options = NULL;
    char *path = NULL;
    int rc = resolve_instance(instance, plugin_dir, &name, &options, &path, err, errlen);
    if (rc < 0) {
        return rc;
    }
    if (instance_name_taken(host, name)) {
        gridems_set_err(err, errlen, "plugin %s: an instance of that name is already loaded", name);
        free(path);
        return GRIDEMS_ECONFIG;
    }
    gridems__plugin_lib_t lib;
    rc = gridems__plugin_open(path, &lib, err, errlen);
    free(path);
    if (rc < 0) {
        return rc;
    }
    const cJSON *jplugin = cJSON_GetObjectItemCaseSensitive(instance, "plugin");
    if (cJSON_IsString(jplugin) && strcmp(jplugin->valuestring, lib.info.name) != 0) {
        gridems_log_warn("plugin %s: the file for \"%s\" calls itself \"%s\"", name,
                         jplugin->valuestring, lib.info.name);
    }
    char who[160];
    snprintf(who, sizeof who, "plugin %s (%s)", name, lib.info.name);
    gridems__optval_t *vals = NULL;
    const char *bad_key = NULL;
    rc = validate_options(&lib, options, who, &vals, &bad_key, err, errlen);
    if (rc < 0) {
        gridems__plugin_lib_close(&lib);
        return rc;
    }
    gridems_plugin_t *inst = calloc(1, sizeof *inst);
    void *context = lib.info.context_size > 0 ? calloc(1, lib.info.context_size) : NULL;
    char *iname = strdup(name);
    if (inst == NULL || iname == NULL || (lib.info.context_size > 0 && context == NULL)) {
        free(inst);
        free(context);
        free(iname);
        free_optvals(vals, lib.n_options);
        gridems__plugin_lib_close(&lib);
        return GRIDEMS_ENOMEM;
    }
    rc = gridems__instance_init(inst, host, name, lib.info.name);
    if (rc < 0) {
        free(inst);
        free(context);
        free(iname);
        free_optvals(vals, lib.n_options);
        gridems__plugin_lib_close(&lib);
        return rc;
    }
    /* From here on the instance owns everything, and the host's teardown releases it. */
    inst->name = iname;
    inst->path = lib.path;
    inst->dl = lib.dl;
    inst->abi = lib.abi;
    inst->info = lib.info;
    inst->cleanup_fn = lib.cleanup_fn;
    inst->opts = vals;
    inst->n_opts = lib.n_options;
    inst->context = context;
    inst->on_closed = instance_closed;
    free(lib.options); /* the values carry their own copies of the table entries */
    fill_context(context, vals, lib.n_options);
    inst->cfg.struct_size = sizeof inst->cfg;
    inst->cfg.plugin = inst->info.name;
    inst->cfg.instance = inst->name;
    inst->cfg.context = context;

    inst->init_called = 1;
    inst->in_init = 1;
    uint64_t t0 = uv_hrtime();
    rc = lib.init_fn(inst, lib.abi->api, &inst->cfg, &inst->userdata);
    uint64_t spent_ns = uv_hrtime() - t0;
    inst->in_init = 0;
    if (rc < 0) {
        /* The plugin's own words (init_error, 1.1) when it gave some, else the code's. */
        gridems_set_err(err, errlen, "%s: init failed: %s (%s)", who,
                        inst->init_error[0] != '\0' ? inst->init_error : gridems_strerror(rc),
                        gridems_err_name(rc));
        gridems__instance_shutdown(inst);
        return GRIDEMS_EPLUGIN;
    }
    if (spent_ns > UINT64_C(5000000)) {
        gridems_log_warn("%s init took %.1f ms, over the 5 ms budget of a loop callback",
                         inst->prefix, (double)spent_ns / 1e6);
    }
    gridems__instance_activate(inst);
    size_t n_devices = 0;
    for (gridems__link_t *l = inst->devices.next; l != &inst->devices; l = l->next) {
        n_devices++;
    }
    if (n_devices == 0) {
        gridems_log_warn("%s registered no devices", inst->prefix);
    }
    gridems_log_info("%s loaded %s (plugin %s, ABI %d, %zu device%s)", inst->prefix, inst->path,
                     inst->info.version != NULL ? inst->info.version : "?", lib.abi_major,
                     n_devices, n_devices == 1 ? "" : "s");
    *out = inst;
    return 0;
}

int gridems__plugin_load(gridems__host_t *host, const cJSON *instance, const char *plugin_dir,
                         gridems_plugin_t **out, char *err, size_t errlen)
{
    char local[512];
    if (err == NULL || errlen == 0) {
        err = local;
        errlen = sizeof local;
    }
    err[0] = '\0';
    if (host == NULL || out == NULL) {
        gridems_set_err(err, errlen, "plugin load: no host");
        return GRIDEMS_EINVAL;
    }
    int rc = load_instance(host, instance, plugin_dir, out, err, errlen);
    if (rc < 0) {
        if (err[0] == '\0') {
            gridems_set_err(err, errlen, "plugin load failed: %s", gridems_strerror(rc));
        }
        gridems_log_err("%s", err);
    }
    return rc;
}

int gridems__plugin_check(const cJSON *instance, const char *plugin_dir, char *key, size_t keylen,
                          char *err, size_t errlen)
{
    char local[512];
    char local_key[96];
    if (err == NULL || errlen == 0) {
        err = local;
        errlen = sizeof local;
    }
    if (key == NULL || keylen == 0) {
        key = local_key;
        keylen = sizeof local_key;
    }
    err[0] = '\0';
    key[0] = '\0';
    const char *name = NULL;
    const cJSON *options = NULL;
    char *path = NULL;
    int rc = resolve_instance(instance, plugin_dir, &name, &options, &path, err, errlen);
    if (rc < 0) {
        return rc;
    }
    bool explicit_path = cJSON_GetObjectItemCaseSensitive(instance, "path") != NULL;
    gridems__plugin_lib_t lib;
    rc = gridems__plugin_open(path, &lib, err, errlen);
    free(path);
    if (rc < 0) {
        /* A file that is missing or refused: the key that named it. */
        snprintf(key, keylen, "%s", explicit_path ? "path" : "plugin");
        return rc;
    }
    char who[160];
    snprintf(who, sizeof who, "plugin %s (%s)", name, lib.info.name);
    gridems__optval_t *vals = NULL;
    const char *bad_key = NULL;
    rc = validate_options(&lib, options, who, &vals, &bad_key, err, errlen);
    if (rc < 0) {
        if (bad_key != NULL) {
            snprintf(key, keylen, "options.%s", bad_key);
        } else {
            snprintf(key, keylen, "options");
        }
    } else {
        free_optvals(vals, lib.n_options);
    }
    gridems__plugin_lib_close(&lib);
    return rc;
}

int gridems__plugin_unload(gridems_plugin_t *inst, gridems__done_cb cb, void *arg)
{
    if (inst == NULL) {
        return GRIDEMS_EINVAL;
    }
    if (inst->state == GRIDEMS__INST_CLOSING) {
        return GRIDEMS_ESTATE;
    }
    inst->unload_cb = cb;
    inst->unload_arg = arg;
    gridems__instance_shutdown(inst);
    return 0;
}
