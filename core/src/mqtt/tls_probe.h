/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Why a TLS connection to the broker fails, in words: Paho reports every TLS failure as "TCP/TLS
 * connect failure" (and checks the host name after the handshake, with no error at all), so an
 * operator could not tell a wrong CA from a certificate for another host. After such a failure
 * the MQTT client runs this probe once (on a libuv worker thread): a TLS handshake of its own
 * with the same trust settings, which names the cause.
 *
 * Threads: any; blocking (at most timeout_ms for the TCP connect and as much for the handshake).
 * No shared state.
 */
#ifndef GRIDEMS_TLS_PROBE_H
#define GRIDEMS_TLS_PROBE_H

#include <stddef.h>

/*
 * gridems__tls_probe: connect to the broker of uri (ssl://, mqtts://; host:port, [v6]:port) and
 * do a TLS handshake verifying its certificate against ca_file (NULL: the system trust store)
 * and the URI's host (a DNS name or an IP address). cert_file/key_file (may be NULL) are offered
 * as the client certificate. All strings borrowed.
 * out receives one line naming the cause, e.g.
 *   "certificate verify failed: unable to get local issuer certificate"
 *   "host name mismatch: the broker's certificate is not valid for 127.0.0.1"
 *   "TLS handshake failed: ... (the broker may want a client certificate)"
 *   "TCP connect to 127.0.0.1:8883 failed: Connection refused"
 * Returns 1 when a cause was found, 0 when the handshake and checks succeed (the failure was
 * not TLS's: out says so), -1 when the probe itself could not run (out says why).
 */
int gridems__tls_probe(const char *uri, const char *ca_file, const char *cert_file,
                       const char *key_file, int timeout_ms, char *out, size_t outlen);

#endif
