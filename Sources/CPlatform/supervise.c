#define _GNU_SOURCE
#include "CPlatform.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/* Closes every descriptor in [first, last] (close_range, else one by one up to the limit). */
static void close_from(int first, int last) {
    if (first > last) return;
    if (syscall(SYS_close_range, (unsigned)first, (unsigned)last, 0) == 0) return;
    struct rlimit limit;
    int top = getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < 65536 ? (int)limit.rlim_cur : 65536;
    if (last < top) top = last + 1;
    for (int fd = first; fd < top; fd++) close(fd);
}

/* Writes `value` in decimal at `slot` (async-signal-safe), NUL-terminated. */
static void write_decimal(char *slot, long value) {
    char digits[24];
    int count = 0;
    do { digits[count++] = (char)('0' + value % 10); value /= 10; } while (value > 0 && count < 23);
    for (int index = 0; index < count; index++) slot[index] = digits[count - 1 - index];
    slot[count] = 0;
}

int ad_spawn_supervised(const ad_supervised_options *options, int *pid, int *child_errno) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) return -1;
    pid_t parent = getpid();
    pid_t child = fork();
    if (child < 0) {
        int saved = errno;
        close(report[0]);
        close(report[1]);
        errno = saved;
        return -1;
    }
    if (child == 0) {
        /* Only async-signal-safe calls from here to execve. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (int signal_number = 1; signal_number < 32; signal_number++) {
            if (signal_number != SIGKILL && signal_number != SIGSTOP) signal(signal_number, SIG_DFL);
        }
        int fail = 0;
        int cgroup_failed = 0;
        if (options->new_process_group && setpgid(0, 0) != 0) fail = 1;
        /* Into its cgroup before it can start anything (a failure is reported as -errno). */
        if (!fail && options->cgroup_procs_fd >= 0 && ad_cgroup_join(options->cgroup_procs_fd) != 0) { cgroup_failed = errno ? errno : EIO; fail = 1; }
        /* A supervisor that dies (even by SIGKILL) leaves no program behind serving on its own:
           it gets SIGTERM and drains. Kept across execve; checked once for a parent already gone. */
        if (options->parent_death_signal && (prctl(PR_SET_PDEATHSIG, options->parent_death_signal) != 0 || getppid() != parent)) fail = 1;
        /* Listeners: first above everything in the way, then at 3, 4, ... (dup2 clears close-on-exec). */
        int high = 3 + options->listener_count + 1;
        for (int index = 0; index < options->listener_count && !fail; index++) {
            if (options->listeners[index] >= high) high = options->listeners[index] + 1;
        }
        if (report[1] >= high) high = report[1] + 1;
        int moved[64];
        int count = options->listener_count < 64 ? options->listener_count : 64;
        for (int index = 0; index < count && !fail; index++) {
            moved[index] = fcntl(options->listeners[index], F_DUPFD_CLOEXEC, high);
            if (moved[index] < 0) fail = 1; else if (moved[index] >= high) high = moved[index] + 1;
        }
        for (int index = 0; index < count && !fail; index++) {
            if (dup2(moved[index], 3 + index) < 0) fail = 1;
        }
        int writer = fail ? report[1] : fcntl(report[1], F_DUPFD_CLOEXEC, high);
        if (writer < 0) { writer = report[1]; fail = 1; }
        if (!fail) {
            close_from(3 + count, writer - 1);
            close_from(writer + 1, 0x7fffffff);
            if (options->listen_pid_value) write_decimal(options->listen_pid_value, (long)getpid());
            execve(options->path, options->argv, options->envp);
        }
        int message = cgroup_failed ? -cgroup_failed : errno;
        ssize_t ignored = write(writer, &message, sizeof message);
        (void)ignored;
        _exit(127);
    }
    close(report[1]);
    int message = 0;
    ssize_t got;
    do { got = read(report[0], &message, sizeof message); } while (got < 0 && errno == EINTR);
    close(report[0]);
    if (got == (ssize_t)sizeof message) {
        int status;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
        *child_errno = message;
        return -2;
    }
    *pid = child;
    return 0;
}

static int signal_pipe_write = -1;

static void record_signal(int signal_number) {
    int saved = errno;
    unsigned char byte = (unsigned char)signal_number;
    ssize_t ignored = write(signal_pipe_write, &byte, 1);
    (void)ignored;
    errno = saved;
}

int ad_signal_pipe_install(const int *signals, int count) {
    int ends[2];
    if (pipe2(ends, O_CLOEXEC | O_NONBLOCK) != 0) return -1;
    signal_pipe_write = ends[1];
    /* A process started from a thread that blocks signals (a dispatch worker) inherits its
       mask: unblock these, or they would never arrive. */
    sigset_t wanted;
    sigemptyset(&wanted);
    for (int index = 0; index < count; index++) sigaddset(&wanted, signals[index]);
    if (sigprocmask(SIG_UNBLOCK, &wanted, NULL) != 0) return -1;
    for (int index = 0; index < count; index++) {
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_handler = record_signal;
        sigemptyset(&action.sa_mask);
        action.sa_flags = SA_RESTART | (signals[index] == SIGCHLD ? SA_NOCLDSTOP : 0);
        if (sigaction(signals[index], &action, NULL) != 0) return -1;
    }
    return ends[0];
}

/* `@name` is an abstract address (a leading NUL), anything else a path. */
static int unix_address(const char *text, struct sockaddr_un *address, socklen_t *length) {
    memset(address, 0, sizeof *address);
    address->sun_family = AF_UNIX;
    size_t size = strlen(text);
    if (size == 0 || size >= sizeof address->sun_path) { errno = ENAMETOOLONG; return -1; }
    memcpy(address->sun_path, text, size);
    if (text[0] == '@') address->sun_path[0] = 0;
    *length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + size + (text[0] == '@' ? 0 : 1));
    return 0;
}

int ad_notify_bind(const char *text) {
    struct sockaddr_un address;
    socklen_t length;
    if (unix_address(text, &address, &length) != 0) return -1;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0 || bind(fd, (struct sockaddr *)&address, length) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

long ad_notify_receive(int fd, char *buffer, size_t capacity, int *sender) {
    struct iovec vector = {buffer, capacity};
    union { char bytes[CMSG_SPACE(sizeof(struct ucred))]; struct cmsghdr align; } control;
    struct msghdr message;
    memset(&message, 0, sizeof message);
    message.msg_iov = &vector;
    message.msg_iovlen = 1;
    message.msg_control = control.bytes;
    message.msg_controllen = sizeof control.bytes;
    ssize_t count = recvmsg(fd, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
    if (count < 0) return -1;
    *sender = 0;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_CREDENTIALS) {
            struct ucred credentials;
            memcpy(&credentials, CMSG_DATA(header), sizeof credentials);
            *sender = credentials.pid;
        } else if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_RIGHTS) {
            /* Descriptors sent along (FDSTORE) are not kept. */
            int *fds = (int *)CMSG_DATA(header);
            size_t fd_count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t index = 0; index < fd_count; index++) close(fds[index]);
        }
    }
    if (message.msg_flags & MSG_TRUNC) return (long)capacity + 1;
    return (long)count;
}

int ad_notify_send(const char *text, const char *payload, size_t length) {
    struct sockaddr_un address;
    socklen_t address_length;
    if (unix_address(text, &address, &address_length) != 0) return -1;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    ssize_t sent;
    do { sent = sendto(fd, payload, length, MSG_NOSIGNAL, (struct sockaddr *)&address, address_length); } while (sent < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    errno = saved;
    return sent == (ssize_t)length ? 0 : -1;
}

int ad_peer_user(int fd, unsigned *uid) {
    struct ucred credentials;
    socklen_t length = sizeof credentials;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return -1;
    *uid = credentials.uid;
    return 0;
}
