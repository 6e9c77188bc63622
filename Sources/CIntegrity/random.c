#include "CIntegrity.h"
#include <sys/random.h>

ssize_t ad_getrandom(void *buffer, size_t length) {
    return getrandom(buffer, length, 0);
}
