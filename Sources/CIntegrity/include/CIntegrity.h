#ifndef AUTODEV_CINTEGRITY_H
#define AUTODEV_CINTEGRITY_H

#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU has the SHA extensions (and SSSE3/SSE4.1) that `ad_sha256_ni_blocks` needs.
int ad_sha256_ni_available(void);

/// Compresses `block_count` 64-byte blocks into `state` with the SHA-NI instructions.
/// Call only when `ad_sha256_ni_available()` returned 1.
void ad_sha256_ni_blocks(uint32_t state[8], const uint8_t *data, size_t block_count);



#include <sys/types.h>
/// getrandom(2): up to `length` random bytes from the kernel; -1 with errno on failure.
ssize_t ad_getrandom(void *buffer, size_t length);
#endif
