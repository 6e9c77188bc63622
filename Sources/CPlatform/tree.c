#define _GNU_SOURCE
#include "CPlatform.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <dirent.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

int ad_cgroup_join(int procs_fd) {
    /* Async-signal-safe: the decimal pid, one write. */
    char digits[24];
    char text[24];
    long value = (long)getpid();
    int count = 0;
    do { digits[count++] = (char)('0' + value % 10); value /= 10; } while (value > 0 && count < 23);
    for (int index = 0; index < count; index++) text[index] = digits[count - 1 - index];
    ssize_t written;
    do { written = write(procs_fd, text, (size_t)count); } while (written < 0 && errno == EINTR);
    return written == count ? 0 : -1;
}

struct linux_dirent64 {
    unsigned long long d_ino;
    long long d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* Removes every (empty) cgroup directory below `directory`, deepest first (a program may have
   made cgroups of its own in its leaf: another supervisor, a module host); 0 when none is left. */
static int remove_below(int directory, int depth) {
    char buffer[2048];
    int left = 0;
    if (depth > 32 || lseek(directory, 0, SEEK_SET) < 0) return -1;
    for (;;) {
        long count = syscall(SYS_getdents64, directory, buffer, sizeof buffer);
        if (count <= 0) break;
        for (long offset = 0; offset < count;) {
            struct linux_dirent64 *entry = (struct linux_dirent64 *)(buffer + offset);
            offset += entry->d_reclen;
            if (entry->d_type != DT_DIR || strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
            int child = openat(directory, entry->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
            if (child >= 0) {
                remove_below(child, depth + 1);
                close(child);
            }
            if (unlinkat(directory, entry->d_name, AT_REMOVEDIR) != 0 && errno != ENOENT) left = 1;
        }
    }
    return left;
}

/* Sends `signal_number` to every process in the leaves directly under `root`. */
static void signal_leaves(int root, int signal_number) {
    char buffer[4096];
    if (lseek(root, 0, SEEK_SET) < 0) return;
    for (;;) {
        long count = syscall(SYS_getdents64, root, buffer, sizeof buffer);
        if (count <= 0) break;
        for (long offset = 0; offset < count;) {
            struct linux_dirent64 *entry = (struct linux_dirent64 *)(buffer + offset);
            offset += entry->d_reclen;
            if (entry->d_type != DT_DIR || entry->d_name[0] == '.') continue;
            int leaf = openat(root, entry->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (leaf < 0) continue;
            int procs = openat(leaf, "cgroup.procs", O_RDONLY | O_CLOEXEC);
            close(leaf);
            if (procs < 0) continue;
            char text[4096];
            long pid = 0;
            int digits = 0;
            ssize_t got;
            while ((got = read(procs, text, sizeof text)) > 0) {
                for (ssize_t index = 0; index < got; index++) {
                    if (text[index] >= '0' && text[index] <= '9') {
                        pid = pid * 10 + (text[index] - '0');
                        digits = 1;
                    } else {
                        if (digits && pid > 0) kill((pid_t)pid, signal_number);
                        pid = 0;
                        digits = 0;
                    }
                }
            }
            if (digits && pid > 0) kill((pid_t)pid, signal_number);
            close(procs);
        }
    }
}

/* Whether any process is left in `root` or below ("populated 1" in cgroup.events). */
static int populated(int root) {
    int events = openat(root, "cgroup.events", O_RDONLY | O_CLOEXEC);
    if (events < 0) return 0;
    char text[256];
    ssize_t got = read(events, text, sizeof text - 1);
    close(events);
    if (got <= 0) return 0;
    text[got] = 0;
    const char *found = strstr(text, "populated ");
    return found && found[10] == '1';
}

int ad_tree_watcher_start(const char *root_path, const char *parent_path, const char *root_name, long grace_ms, int *write_end) {
    int ends[2];
    if (pipe2(ends, O_CLOEXEC) != 0) return -1;
    int root = open(root_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int parent = open(parent_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0 || parent < 0) {
        int saved = errno;
        if (root >= 0) close(root);
        if (parent >= 0) close(parent);
        close(ends[0]);
        close(ends[1]);
        errno = saved;
        return -1;
    }
    pid_t first = fork();
    if (first < 0) {
        int saved = errno;
        close(root);
        close(parent);
        close(ends[0]);
        close(ends[1]);
        errno = saved;
        return -1;
    }
    if (first == 0) {
        /* Only async-signal-safe calls from here. The watcher is nobody's child: the
           intermediate exits at once, so it never shows among its starter's children. */
        setsid();
        pid_t second = fork();
        if (second != 0) _exit(second < 0 ? 1 : 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int ignored[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT, SIGUSR1, SIGUSR2};
        for (unsigned index = 0; index < sizeof ignored / sizeof ignored[0]; index++) signal(ignored[index], SIG_IGN);
        close(ends[1]);
        /* Keep only the pipe's read end and the two directories. */
        int keep[3] = {ends[0], root, parent};
        for (int fd = 0; fd < 3; fd++) {
            if (fd != keep[0] && fd != keep[1] && fd != keep[2]) close(fd);
        }
        int highest = keep[0];
        if (keep[1] > highest) highest = keep[1];
        if (keep[2] > highest) highest = keep[2];
        for (int fd = 3; fd < highest; fd++) {
            if (fd != keep[0] && fd != keep[1] && fd != keep[2]) close(fd);
        }
        syscall(SYS_close_range, (unsigned)highest + 1, ~0U, 0);
        /* Until the starter is gone (or lets go): the write end is only ever held by it. */
        char byte;
        for (;;) {
            ssize_t got = read(ends[0], &byte, 1);
            if (got == 0) break;
            if (got < 0 && errno != EINTR) break;
        }
        /* SIGTERM first (they may drain), SIGKILL for all at the end of the grace period. */
        struct timespec tick = {0, 20 * 1000 * 1000};
        if (grace_ms > 0) {
            signal_leaves(root, SIGTERM);
            for (long waited = 0; waited < grace_ms && populated(root); waited += 20) nanosleep(&tick, NULL);
        }
        int kill_fd = openat(root, "cgroup.kill", O_WRONLY | O_CLOEXEC);
        if (kill_fd >= 0) {
            ssize_t written = write(kill_fd, "1", 1);
            (void)written;
            close(kill_fd);
        }
        struct timespec pause = {0, 50 * 1000 * 1000};
        for (int attempt = 0; attempt < 200; attempt++) {
            remove_below(root, 0);
            if (unlinkat(parent, root_name, AT_REMOVEDIR) == 0 || errno == ENOENT) break;
            nanosleep(&pause, NULL);
        }
        _exit(0);
    }
    int status;
    while (waitpid(first, &status, 0) < 0 && errno == EINTR) {}
    close(ends[0]);
    close(root);
    close(parent);
    *write_end = ends[1];
    return 0;
}

#include <sys/prctl.h>

int ad_become_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

#include <sys/resource.h>
#include <sys/stat.h>

/* Unlinks every entry of `directory` but directories. */
static void unlink_files(int directory) {
    char buffer[4096];
    for (;;) {
        long count = syscall(SYS_getdents64, directory, buffer, sizeof buffer);
        if (count <= 0) break;
        for (long offset = 0; offset < count;) {
            struct linux_dirent64 *entry = (struct linux_dirent64 *)(buffer + offset);
            offset += entry->d_reclen;
            if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
            if (entry->d_type != DT_DIR) unlinkat(directory, entry->d_name, 0);
        }
    }
}

int ad_remove_detached(const char *parent_path, const char *name, int wait_ms) {
    /* Never through a link put over the directory: the remover works in the one opened here. */
    int parent = open(parent_path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (parent < 0) return -1;
    int result = ad_remove_detached_at(parent, name, wait_ms);
    int saved = errno;
    close(parent);
    errno = saved;
    return result;
}

int ad_remove_detached_at(int directory, const char *name, int wait_ms) {
    /* The remover's own copy of the directory the caller opened (the caller keeps its own). */
    int parent = fcntl(directory, F_DUPFD_CLOEXEC, 0);
    if (parent < 0) return -1;
    pid_t starter = getpid();
    /* vfork: the starter waits only for the intermediate, which forks the remover and exits at
       once (nobody's child, it never shows among the starter's children); the starter's memory
       is copied once, by that fork. From here on only system calls. */
    pid_t first = vfork();
    if (first < 0) {
        int saved = errno;
        close(parent);
        errno = saved;
        return -1;
    }
    if (first == 0) {
        long second = syscall(SYS_clone, (unsigned long)SIGCHLD, 0UL, 0UL, 0UL, 0UL);
        if (second != 0) _exit(second < 0 ? 1 : 0);
        setsid();
        setpriority(PRIO_PROCESS, 0, 10);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int ignored[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT};
        for (unsigned index = 0; index < sizeof ignored / sizeof ignored[0]; index++) signal(ignored[index], SIG_IGN);
        /* No descriptor of the starter's but the directory: a pipe it shares ends when it does. */
        if (parent > 0) syscall(SYS_close_range, 0U, (unsigned)parent - 1, 0);
        syscall(SYS_close_range, (unsigned)parent + 1, ~0U, 0);
        if (chdir("/") != 0) {}
        /* The caller's own work does not share the disk with the removal (on a file system
           mounted with discard, an 18 MB file takes milliseconds of I/O to free). */
        if (wait_ms > 0) {
            int exited = (int)syscall(SYS_pidfd_open, starter, 0U);
            if (exited >= 0) {
                struct pollfd watch = {.fd = exited, .events = POLLIN};
                if (poll(&watch, 1, wait_ms) < 0) {}
                close(exited);
            }
        }
        int doomed = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (doomed < 0) _exit(0);
        /* Never into another mount (a file system, or a bind mount of this one, put there). */
        struct stat top, below;
        long long top_mount = ad_mount_id(parent), below_mount = ad_mount_id(doomed);
        if (fstat(parent, &top) != 0 || fstat(doomed, &below) != 0 || top.st_dev != below.st_dev
            || (top_mount >= 0 && below_mount >= 0 && top_mount != below_mount)) _exit(0);
        unlink_files(doomed);
        close(doomed);
        unlinkat(parent, name, AT_REMOVEDIR);
        _exit(0);
    }
    int status = 0;
    while (waitpid(first, &status, 0) < 0 && errno == EINTR) {}
    close(parent);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        errno = EAGAIN;
        return -1;
    }
    return 0;
}

#include <sys/stat.h>
#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U
#endif

long long ad_mount_id(int fd) {
    struct statx info;
    if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &info) != 0) return -1;
    if (!(info.stx_mask & STATX_MNT_ID)) return -1;
    return (long long)info.stx_mnt_id;
}
