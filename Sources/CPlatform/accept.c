#define _GNU_SOURCE
#include "CPlatform.h"

#include <sys/socket.h>

int ad_accept_nonblocking(int listener) {
    return accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
}
