#define _GNU_SOURCE
#include "CPlatform.h"

#include <fcntl.h>

int ad_start_writeback(int fd, long long offset, long long count) {
#ifdef SYNC_FILE_RANGE_WRITE
    return sync_file_range(fd, offset, count, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd; (void)offset; (void)count;
    return 0;
#endif
}

#include <unistd.h>

long ad_copy_file_range(int input, int output, unsigned long count) {
    return (long)copy_file_range(input, NULL, output, NULL, (size_t)count, 0);
}

#include <sys/vfs.h>

long long ad_file_system_type(int fd) {
    struct statfs info;
    if (fstatfs(fd, &info) != 0) return -1;
    return (long long)info.f_type;
}
