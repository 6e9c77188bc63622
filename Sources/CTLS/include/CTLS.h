#ifndef AUTODEV_CTLS_H
#define AUTODEV_CTLS_H

#include <stddef.h>

/// TLS client sessions on OpenSSL 3, loaded with dlopen at first use: a binary linked with this
/// target starts and runs without libssl, and only HTTPS needs it.
///
/// A session never touches a socket. OpenSSL reads and writes two memory buffers; the caller
/// moves ciphertext between them and the socket (`ad_tls_take_output`, `ad_tls_give_input`),
/// so every wait, timeout and error on the socket stays in the caller's hands.
///
/// Functions that can fail write a NUL-terminated message into `error` (of `error_size` bytes).

typedef struct ad_tls_context ad_tls_context;
typedef struct ad_tls_session ad_tls_session;

/// Results of `ad_tls_handshake`, `ad_tls_read` and `ad_tls_write`.
enum {
    AD_TLS_DONE = 0,       /* the call completed (or read returned bytes) */
    AD_TLS_WANT_INPUT = 1, /* send the output, then give more input from the peer and call again */
    AD_TLS_RETRY = 2,      /* send the output and call again */
    AD_TLS_CLOSED = 3,     /* the peer closed the TLS session (close_notify) */
    AD_TLS_FAILED = 4      /* a protocol or certificate error; `error` says which */
};

/// Loads `ssl_name` and `crypto_name` (NULL for libssl.so.3 and libcrypto.so.3) and the
/// functions used. The first success is kept for the life of the process; with both names NULL
/// a later call returns at once. Returns 0, or -1.
int ad_tls_load(const char *ssl_name, const char *crypto_name, char *error, size_t error_size);

/// A client context that verifies peers against the system's trust store and, if `ca_file` is
/// not NULL, the certificates of that PEM file; TLS 1.2 at least. NULL on failure.
ad_tls_context *ad_tls_context_new(const char *ca_file, char *error, size_t error_size);
void ad_tls_context_free(ad_tls_context *context);

/// A client session that checks the certificate names `host` (a DNS name or an IP address) and
/// sends it as SNI when it is a name. NULL on failure.
ad_tls_session *ad_tls_session_new(ad_tls_context *context, const char *host, char *error, size_t error_size);
void ad_tls_session_free(ad_tls_session *session);

/// Advances the handshake.
int ad_tls_handshake(ad_tls_session *session, char *error, size_t error_size);

/// Decrypts up to `count` bytes into `buffer`; `*received` is set when the result is AD_TLS_DONE.
int ad_tls_read(ad_tls_session *session, void *buffer, int count, int *received, char *error, size_t error_size);

/// Encrypts all `count` bytes of `buffer` into the output.
int ad_tls_write(ad_tls_session *session, const void *buffer, int count, char *error, size_t error_size);

/// Moves up to `count` bytes of ciphertext waiting to be sent into `buffer`; returns how many (0: none).
int ad_tls_take_output(ad_tls_session *session, void *buffer, int count);

/// Hands `count` bytes received from the peer to the session; returns 0, or -1.
int ad_tls_give_input(ad_tls_session *session, const void *buffer, int count);

#endif
