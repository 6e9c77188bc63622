#define _GNU_SOURCE
#include "CPlatform.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/* Writes the decimal digits of `value` at `out` followed by a NUL (async-signal-safe). */
static void format_pid(char *out, long value) {
    char digits[24];
    int count = 0;
    do { digits[count++] = (char)('0' + value % 10); value /= 10; } while (value > 0);
    while (count > 0) *out++ = digits[--count];
    *out = 0;
}

/* Closes every descriptor from `first` to `last` (-1: no upper bound). */
static void close_between(int first, int last) {
    if (last != -1 && last < first) return;
    if (syscall(SYS_close_range, (unsigned)first, last == -1 ? ~0U : (unsigned)last, 0) == 0) return;
    int end = last == -1 ? 65536 : last;
    for (int fd = first; fd <= end; fd++) close(fd);
}

static long milliseconds_now(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int ad_watchdog_start(const ad_watchdog_options *options, int *pid) {
    int parent = getpid();
    int child = fork();
    if (child < 0) return -1;
    if (child > 0) {
        *pid = child;
        return 0;
    }
    /* The watchdog: only async-signal-safe calls from here on. It keeps stdio, the listeners
       (3, 4, ...), the confirmation pipe and the lock; every other descriptor of the parent
       (connections, files) is closed now, so their peers see them end with the parent. */
    int keep_low = options->confirm_read_fd < options->lock_fd ? options->confirm_read_fd : options->lock_fd;
    int keep_high = options->confirm_read_fd < options->lock_fd ? options->lock_fd : options->confirm_read_fd;
    close_between(3 + options->listener_count, keep_low - 1);
    close_between(keep_low + 1, keep_high - 1);
    close_between(keep_high + 1, -1);
    long deadline = milliseconds_now() + options->deadline_ms;
    for (;;) {
        long left = deadline - milliseconds_now();
        if (left <= 0) break;
        struct pollfd wait = {.fd = options->confirm_read_fd, .events = POLLIN};
        int ready = poll(&wait, 1, (int)left);
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) break;
        char byte;
        ssize_t got = read(options->confirm_read_fd, &byte, 1);
        if (got < 0 && errno == EINTR) continue;
        if (got == 1) _exit(0);  /* confirmed, or rolled back by the new version itself */
        break;                   /* end of file: the new version died or exec'd without a word */
    }
    /* Take over: end the new version (our parent), wait until it is gone, then run the old one. */
    if (getppid() == parent) kill(parent, SIGKILL);
    for (int tries = 0; getppid() == parent && tries < 1000; tries++) {
        struct timespec pause = {0, 5 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    if (getppid() == parent) _exit(125);
    close(options->confirm_read_fd);
    close(options->lock_fd);
    format_pid(options->listen_pid_value, getpid());
    execve(options->path, options->argv, options->envp);
    _exit(126);
}
