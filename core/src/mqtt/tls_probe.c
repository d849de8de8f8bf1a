/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "tls_probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* host and port of scheme://host:port/..., [v6] brackets removed. 0 or -1. */
static int split_uri(const char *uri, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *p = strstr(uri, "://");
    p = p != NULL ? p + 3 : uri;
    const char *end = p + strcspn(p, "/");
    const char *colon = NULL;
    const char *hs = p, *he = NULL;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (rb == NULL) {
            return -1;
        }
        hs = p + 1;
        he = rb;
        colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
    } else {
        colon = memchr(p, ':', (size_t)(end - p));
        he = colon != NULL ? colon : end;
    }
    size_t hl = (size_t)(he - hs);
    if (hl == 0 || hl >= hostlen) {
        return -1;
    }
    memcpy(host, hs, hl);
    host[hl] = '\0';
    if (colon != NULL && colon + 1 < end) {
        size_t pl = (size_t)(end - colon - 1);
        if (pl >= portlen) {
            return -1;
        }
        memcpy(port, colon + 1, pl);
        port[pl] = '\0';
    } else {
        snprintf(port, portlen, "8883");
    }
    return 0;
}

/* A connected TCP socket, or -1 with out filled. */
static int tcp_connect(const char *host, const char *port, int timeout_ms, char *out, size_t outlen)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        snprintf(out, outlen, "cannot resolve %s: %s", host, gai_strerror(gai));
        return -1;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
            err = errno;
        } else {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            socklen_t len = sizeof err;
            err = 0;
            if (poll(&pfd, 1, timeout_ms) != 1) {
                err = ETIMEDOUT;
            } else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
                err = errno;
            }
        }
        if (err != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(out, outlen, "TCP connect to %s:%s failed: %s", host, port, strerror(err));
        return -1;
    }
    /* Blocking from here, bounded by socket timeouts. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

/* The first error on OpenSSL's queue as text, or fallback. The queue is cleared. */
static void ssl_error_text(char *buf, size_t len, const char *fallback)
{
    unsigned long e = ERR_get_error();
    if (e == 0) {
        snprintf(buf, len, "%s", fallback);
    } else {
        ERR_error_string_n(e, buf, len);
    }
    ERR_clear_error();
}

int gridems__tls_probe(const char *uri, const char *ca_file, const char *cert_file,
                       const char *key_file, int timeout_ms, char *out, size_t outlen)
{
    char host[256], port[16];
    if (split_uri(uri, host, sizeof host, port, sizeof port) != 0) {
        snprintf(out, outlen, "cannot find the host and port in %s", uri);
        return -1;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        snprintf(out, outlen, "cannot create a TLS context");
        return -1;
    }
    ERR_clear_error();
    int rc = -1;
    int fd = -1;
    SSL *ssl = NULL;
    char why[256];
    bool trust_ok = ca_file != NULL ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) == 1
                                    : SSL_CTX_set_default_verify_paths(ctx) == 1;
    if (!trust_ok) {
        ssl_error_text(why, sizeof why, "unreadable");
        snprintf(out, outlen, "cannot load the trust store %s: %s",
                 ca_file != NULL ? ca_file : "(system)", why);
        rc = 1;
        goto done;
    }
    if (cert_file != NULL &&
        (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1 ||
         SSL_CTX_use_PrivateKey_file(ctx, key_file != NULL ? key_file : cert_file,
                                     SSL_FILETYPE_PEM) != 1)) {
        ssl_error_text(why, sizeof why, "unreadable");
        snprintf(out, outlen, "cannot load the client certificate %s: %s", cert_file, why);
        rc = 1;
        goto done;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    fd = tcp_connect(host, port, timeout_ms, out, outlen);
    if (fd < 0) {
        rc = 1;
        goto done;
    }
    ssl = SSL_new(ctx);
    if (ssl == NULL) {
        snprintf(out, outlen, "cannot create a TLS session");
        goto done;
    }
    /* The same rule as Paho's: the URI's host must be named by the certificate, as a DNS name
     * or an IP address. Set here, so OpenSSL's verification reports a mismatch as such. */
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    struct in6_addr a6;
    struct in_addr a4;
    bool is_ip = inet_pton(AF_INET, host, &a4) == 1 || inet_pton(AF_INET6, host, &a6) == 1;
    if (is_ip) {
        X509_VERIFY_PARAM_set1_ip_asc(param, host);
    } else {
        X509_VERIFY_PARAM_set1_host(param, host, 0);
        SSL_set_tlsext_host_name(ssl, host);
    }
    SSL_set_fd(ssl, fd);
    int hs = SSL_connect(ssl);
    long vr = SSL_get_verify_result(ssl);
    if (hs == 1 && vr == X509_V_OK) {
        snprintf(out, outlen,
                 "a TLS handshake of our own with %s:%s succeeds (certificate and "
                 "host name verified)",
                 host, port);
        rc = 0;
    } else if (vr == X509_V_ERR_HOSTNAME_MISMATCH || vr == X509_V_ERR_IP_ADDRESS_MISMATCH) {
        snprintf(out, outlen,
                 "host name mismatch: the broker's certificate is not valid for %s (%s)", host,
                 X509_verify_cert_error_string(vr));
        rc = 1;
    } else if (vr != X509_V_OK) {
        snprintf(out, outlen, "certificate verify failed: %s (trust store %s)",
                 X509_verify_cert_error_string(vr), ca_file != NULL ? ca_file : "(system)");
        rc = 1;
    } else {
        ssl_error_text(why, sizeof why, "the broker closed the connection");
        snprintf(out, outlen,
                 "TLS handshake failed: %s (wrong port, or the broker wants a client "
                 "certificate?)",
                 why);
        rc = 1;
    }
done:
    if (ssl != NULL) {
        SSL_free(ssl);
    }
    if (fd >= 0) {
        close(fd);
    }
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}
