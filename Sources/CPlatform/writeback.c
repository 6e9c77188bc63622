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

#include <errno.h>
#include <sys/syscall.h>

int ad_rename2(const char *from, const char *to, unsigned flags) {
#ifdef SYS_renameat2
    return (int)syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, flags);
#else
    (void)from; (void)to; (void)flags;
    errno = ENOSYS;
    return -1;
#endif
}

#include <sys/vfs.h>

long long ad_file_system_type(int fd) {
    struct statfs info;
    if (fstatfs(fd, &info) != 0) return -1;
    return (long long)info.f_type;
}
