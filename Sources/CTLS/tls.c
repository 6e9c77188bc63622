// OpenSSL 3 through dlopen/dlsym: the few functions a verifying TLS client needs, declared here
// with opaque types so that neither OpenSSL's headers nor its libraries are needed to build.
#include "CTLS.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_method_st SSL_METHOD;
typedef struct bio_st BIO;
typedef struct bio_method_st BIO_METHOD;

// Values from OpenSSL's public headers; part of its ABI.
#define SSL_VERIFY_PEER 1
#define SSL_CTRL_SET_TLSEXT_HOSTNAME 55
#define TLSEXT_NAMETYPE_host_name 0
#define SSL_CTRL_SET_MIN_PROTO_VERSION 123
#define TLS1_2_VERSION 0x0303
#define SSL_ERROR_SSL 1
#define SSL_ERROR_WANT_READ 2
#define SSL_ERROR_WANT_WRITE 3
#define SSL_ERROR_SYSCALL 5
#define SSL_ERROR_ZERO_RETURN 6
#define X509_V_OK 0

struct tls_api {
    // libcrypto
    const BIO_METHOD *(*BIO_s_mem)(void);
    BIO *(*BIO_new)(const BIO_METHOD *);
    int (*BIO_free)(BIO *);
    int (*BIO_read)(BIO *, void *, int);
    int (*BIO_write)(BIO *, const void *, int);
    unsigned long (*ERR_get_error)(void);
    void (*ERR_clear_error)(void);
    void (*ERR_error_string_n)(unsigned long, char *, size_t);
    const char *(*X509_verify_cert_error_string)(long);
    // libssl
    const SSL_METHOD *(*TLS_client_method)(void);
    SSL_CTX *(*SSL_CTX_new)(const SSL_METHOD *);
    void (*SSL_CTX_free)(SSL_CTX *);
    int (*SSL_CTX_set_default_verify_paths)(SSL_CTX *);
    int (*SSL_CTX_load_verify_locations)(SSL_CTX *, const char *, const char *);
    void (*SSL_CTX_set_verify)(SSL_CTX *, int, void *);
    long (*SSL_CTX_ctrl)(SSL_CTX *, int, long, void *);
    SSL *(*SSL_new)(SSL_CTX *);
    void (*SSL_free)(SSL *);
    void (*SSL_set_bio)(SSL *, BIO *, BIO *);
    int (*SSL_set1_host)(SSL *, const char *);
    long (*SSL_ctrl)(SSL *, int, long, void *);
    void (*SSL_set_connect_state)(SSL *);
    int (*SSL_do_handshake)(SSL *);
    int (*SSL_read)(SSL *, void *, int);
    int (*SSL_write)(SSL *, const void *, int);
    int (*SSL_get_error)(const SSL *, int);
    long (*SSL_get_verify_result)(const SSL *);
};

/// The functions in use; written once, under `load_lock`, before `loaded` is set.
static struct tls_api api;

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static int loaded;

struct ad_tls_context {
    SSL_CTX *ctx;
};

struct ad_tls_session {
    SSL *ssl;
    BIO *input;  /* ciphertext from the peer, read by OpenSSL */
    BIO *output; /* ciphertext for the peer, written by OpenSSL */
};

static void set_error(char *error, size_t size, const char *format, const char *detail) {
    if (error && size > 0) snprintf(error, size, format, detail);
}

/// The oldest queued OpenSSL error as text, then the queue cleared.
static void openssl_error(char *error, size_t size, const char *what) {
    unsigned long code = api.ERR_get_error();
    char text[256] = "no detail from OpenSSL";
    if (code != 0) api.ERR_error_string_n(code, text, sizeof text);
    api.ERR_clear_error();
    if (error && size > 0) snprintf(error, size, "%s: %s", what, text);
}

int ad_tls_load(const char *ssl_name, const char *crypto_name, char *error, size_t error_size) {
    int named = ssl_name || crypto_name;
    if (!ssl_name) ssl_name = "libssl.so.3";
    if (!crypto_name) crypto_name = "libcrypto.so.3";
    pthread_mutex_lock(&load_lock);
    if (loaded && !named) {
        pthread_mutex_unlock(&load_lock);
        return 0;
    }
    void *crypto = dlopen(crypto_name, RTLD_NOW | RTLD_LOCAL);
    void *ssl = crypto ? dlopen(ssl_name, RTLD_NOW | RTLD_LOCAL) : NULL;
    if (!crypto || !ssl) {
        if (error && error_size > 0) {
            snprintf(error, error_size, "HTTPS needs %s (OpenSSL 3): not found; install the libssl3 package",
                     crypto ? ssl_name : crypto_name);
        }
        if (crypto) dlclose(crypto);
        pthread_mutex_unlock(&load_lock);
        return -1;
    }
    const char *missing = NULL;
    struct tls_api found;
#define LOAD(handle, name)                                                   \
    do {                                                                     \
        *(void **)(&found.name) = dlsym(handle, #name);                      \
        if (!found.name && !missing) missing = #name;                        \
    } while (0)
    LOAD(crypto, BIO_s_mem);
    LOAD(crypto, BIO_new);
    LOAD(crypto, BIO_free);
    LOAD(crypto, BIO_read);
    LOAD(crypto, BIO_write);
    LOAD(crypto, ERR_get_error);
    LOAD(crypto, ERR_clear_error);
    LOAD(crypto, ERR_error_string_n);
    LOAD(crypto, X509_verify_cert_error_string);
    LOAD(ssl, TLS_client_method);
    LOAD(ssl, SSL_CTX_new);
    LOAD(ssl, SSL_CTX_free);
    LOAD(ssl, SSL_CTX_set_default_verify_paths);
    LOAD(ssl, SSL_CTX_load_verify_locations);
    LOAD(ssl, SSL_CTX_set_verify);
    LOAD(ssl, SSL_CTX_ctrl);
    LOAD(ssl, SSL_new);
    LOAD(ssl, SSL_free);
    LOAD(ssl, SSL_set_bio);
    LOAD(ssl, SSL_set1_host);
    LOAD(ssl, SSL_ctrl);
    LOAD(ssl, SSL_set_connect_state);
    LOAD(ssl, SSL_do_handshake);
    LOAD(ssl, SSL_read);
    LOAD(ssl, SSL_write);
    LOAD(ssl, SSL_get_error);
    LOAD(ssl, SSL_get_verify_result);
#undef LOAD
    if (missing) {
        if (error && error_size > 0) {
            snprintf(error, error_size, "HTTPS needs OpenSSL 3: %s has no %s", ssl_name, missing);
        }
        dlclose(ssl);
        dlclose(crypto);
        pthread_mutex_unlock(&load_lock);
        return -1;
    }
    if (loaded) {  // loaded before: keep the functions in use
        dlclose(ssl);
        dlclose(crypto);
    } else {
        api = found;
    }
    loaded = 1;  // the libraries stay loaded: sessions may exist in any thread from now on
    pthread_mutex_unlock(&load_lock);
    return 0;
}

ad_tls_context *ad_tls_context_new(const char *ca_file, char *error, size_t error_size) {
    api.ERR_clear_error();
    SSL_CTX *ctx = api.SSL_CTX_new(api.TLS_client_method());
    if (!ctx) {
        openssl_error(error, error_size, "cannot create a TLS context");
        return NULL;
    }
    api.SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (api.SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, NULL) != 1 ||
        api.SSL_CTX_set_default_verify_paths(ctx) != 1) {
        openssl_error(error, error_size, "cannot set up the TLS context");
        api.SSL_CTX_free(ctx);
        return NULL;
    }
    if (ca_file && api.SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
        char what[1200];
        snprintf(what, sizeof what, "cannot load the CA file \"%s\"", ca_file);
        openssl_error(error, error_size, what);
        api.SSL_CTX_free(ctx);
        return NULL;
    }
    ad_tls_context *context = calloc(1, sizeof *context);
    if (!context) {
        api.SSL_CTX_free(ctx);
        set_error(error, error_size, "%s", "out of memory");
        return NULL;
    }
    context->ctx = ctx;
    return context;
}

void ad_tls_context_free(ad_tls_context *context) {
    if (!context) return;
    api.SSL_CTX_free(context->ctx);
    free(context);
}

ad_tls_session *ad_tls_session_new(ad_tls_context *context, const char *host, char *error, size_t error_size) {
    api.ERR_clear_error();
    ad_tls_session *session = calloc(1, sizeof *session);
    if (!session) {
        set_error(error, error_size, "%s", "out of memory");
        return NULL;
    }
    session->ssl = api.SSL_new(context->ctx);
    session->input = api.BIO_new(api.BIO_s_mem());
    session->output = api.BIO_new(api.BIO_s_mem());
    if (!session->ssl || !session->input || !session->output) {
        openssl_error(error, error_size, "cannot create a TLS session");
        if (session->input) api.BIO_free(session->input);
        if (session->output) api.BIO_free(session->output);
        if (session->ssl) api.SSL_free(session->ssl);
        free(session);
        return NULL;
    }
    api.SSL_set_bio(session->ssl, session->input, session->output);  // the session owns both now
    api.SSL_set_connect_state(session->ssl);
    // SSL_set1_host checks an IP address literal against the certificate's IP addresses and a
    // name against its DNS names. SNI carries names only (RFC 6066 §3).
    unsigned char address[16];
    int literal = inet_pton(AF_INET, host, address) == 1 || inet_pton(AF_INET6, host, address) == 1;
    if (api.SSL_set1_host(session->ssl, host) != 1 ||
        (!literal && api.SSL_ctrl(session->ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, (void *)host) != 1)) {
        openssl_error(error, error_size, "cannot set the TLS host name");
        ad_tls_session_free(session);
        return NULL;
    }
    return session;
}

void ad_tls_session_free(ad_tls_session *session) {
    if (!session) return;
    api.SSL_free(session->ssl);
    free(session);
}

/// Classifies the result of an SSL call.
static int outcome(ad_tls_session *session, int result, const char *what, char *error, size_t error_size) {
    switch (api.SSL_get_error(session->ssl, result)) {
    case SSL_ERROR_WANT_READ:
        return AD_TLS_WANT_INPUT;
    case SSL_ERROR_WANT_WRITE:
        return AD_TLS_RETRY;
    case SSL_ERROR_ZERO_RETURN:
        return AD_TLS_CLOSED;
    default: {
        long verify = api.SSL_get_verify_result(session->ssl);
        if (verify != X509_V_OK) {
            api.ERR_clear_error();
            set_error(error, error_size, "certificate verify failed: %s", api.X509_verify_cert_error_string(verify));
        } else {
            openssl_error(error, error_size, what);
        }
        return AD_TLS_FAILED;
    }
    }
}

int ad_tls_handshake(ad_tls_session *session, char *error, size_t error_size) {
    api.ERR_clear_error();
    int result = api.SSL_do_handshake(session->ssl);
    return result == 1 ? AD_TLS_DONE : outcome(session, result, "TLS handshake failed", error, error_size);
}

int ad_tls_read(ad_tls_session *session, void *buffer, int count, int *received, char *error, size_t error_size) {
    api.ERR_clear_error();
    int result = api.SSL_read(session->ssl, buffer, count);
    if (result > 0) {
        *received = result;
        return AD_TLS_DONE;
    }
    return outcome(session, result, "TLS read failed", error, error_size);
}

int ad_tls_write(ad_tls_session *session, const void *buffer, int count, char *error, size_t error_size) {
    api.ERR_clear_error();
    int result = api.SSL_write(session->ssl, buffer, count);
    return result > 0 ? AD_TLS_DONE : outcome(session, result, "TLS write failed", error, error_size);
}

int ad_tls_take_output(ad_tls_session *session, void *buffer, int count) {
    int result = api.BIO_read(session->output, buffer, count);
    return result > 0 ? result : 0;
}

int ad_tls_give_input(ad_tls_session *session, const void *buffer, int count) {
    return api.BIO_write(session->input, buffer, count) == count ? 0 : -1;
}
