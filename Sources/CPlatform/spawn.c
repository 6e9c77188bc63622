#define _GNU_SOURCE
#include "CPlatform.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
#ifndef ST_RELATIME
#define ST_RELATIME 4096
#endif

/* linux/securebits.h */
#define AD_SECBIT_NOROOT (1 << 0)
#define AD_SECBIT_NOROOT_LOCKED (1 << 1)
#define AD_SECBIT_NO_SETUID_FIXUP (1 << 2)
#define AD_SECBIT_NO_SETUID_FIXUP_LOCKED (1 << 3)
#define AD_SECBIT_KEEP_CAPS_LOCKED (1 << 5)

/* linux/capability.h, version 3: two 32-bit words per set. */
struct ad_cap_header { unsigned int version; int pid; };
struct ad_cap_data { unsigned int effective, permitted, inheritable; };
#define AD_CAPABILITY_VERSION_3 0x20080522

enum { STEP_EXEC, STEP_UNSHARE_USER, STEP_UID_MAP, STEP_UNSHARE_NET, STEP_UNSHARE_MOUNT, STEP_MOUNT,
       STEP_REMOUNT_READ_ONLY, STEP_BIND_WRITABLE, STEP_BIND_DEVICES, STEP_UNSHARE_PID, STEP_FORK,
       STEP_MOUNT_PROC, STEP_SETRLIMIT, STEP_CHDIR, STEP_DUP2, STEP_SETSID, STEP_INHERIT_FD,
       STEP_WRITE_PID, STEP_SECUREBITS, STEP_DROP_BOUNDING, STEP_CAPSET, STEP_NO_NEW_PRIVS, STEP_UNSHARE_IPC,
       STEP_CGROUP, STEP_MOUNT_TMPFS, STEP_BIND_READ_ONLY, STEP_LAYER, STEP_SECCOMP, STEP_LOOPBACK, STEP_TERMINALS, STEP_MASK, STEP_LANDLOCK,
       STEP_GATE, STEP_BIND_CHANGED };
static const char *step_names[] = {"exec", "unshare-user", "uid-map", "unshare-network", "unshare-mount", "mount",
                                   "remount-read-only", "bind-writable", "bind-devices", "unshare-pid", "fork",
                                   "mount-proc", "setrlimit", "chdir", "dup2", "setsid", "inherit-fd",
                                   "write-pid", "securebits", "drop-bounding-set", "capset", "no-new-privs", "unshare-ipc",
                                   "cgroup", "mount-tmpfs", "bind-read-only", "layer", "seccomp", "loopback", "terminals", "mask", "landlock",
                                   "gate", "bind-changed"};

static void report_and_exit(int pipe_fd, int step) {
    int message[2] = {step, errno};
    ssize_t ignored = write(pipe_fd, message, sizeof message);
    (void)ignored;
    _exit(127);
}

/* Writes all of `text` into `path` (a /proc file); 0 or -1 with errno. */
static int write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t length = strlen(text);
    ssize_t written = write(fd, text, length);
    int saved = errno;
    close(fd);
    if (written != (ssize_t)length) {
        errno = written < 0 ? saved : EIO;
        return -1;
    }
    return 0;
}

/* The mount flags a bind remount of `path` must keep: nosuid, nodev, noexec and the atime mode
   (inside a user namespace they are locked, and a remount that changes them is refused). */
static int kept_flags(const char *path, unsigned long *flags) {
    struct statfs info;
    if (syscall(SYS_statfs, path, &info) != 0) return -1;
    unsigned long kept = 0;
    if (info.f_flags & ST_NOSUID) kept |= MS_NOSUID;
    if (info.f_flags & ST_NODEV) kept |= MS_NODEV;
    if (info.f_flags & ST_NOEXEC) kept |= MS_NOEXEC;
    if (info.f_flags & ST_NOATIME) kept |= MS_NOATIME;
    if (info.f_flags & ST_NODIRATIME) kept |= MS_NODIRATIME;
    if (info.f_flags & ST_RELATIME) kept |= MS_RELATIME;
    if (!(info.f_flags & (ST_NOATIME | ST_RELATIME))) kept |= MS_STRICTATIME;
    *flags = kept;
    return 0;
}

/* Remounts the mount at `path` as a bind with its kept flags plus `extra`. */
static int remount(const char *path, unsigned long extra) {
    unsigned long flags;
    if (kept_flags(path, &flags) != 0) return -1;
    return mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | flags | extra, NULL);
}

#define AD_MAX_DEVICES 16

/* `prefix` then `name` into `buffer` (64 bytes), cut to fit: async-signal-safe. */
static void join_path(char *buffer, const char *prefix, const char *name) {
    size_t length = 0;
    for (const char *p = prefix; *p && length < 63; p++) buffer[length++] = *p;
    for (const char *p = name; *p && length < 63; p++) buffer[length++] = *p;
    buffer[length] = 0;
}

/* The decimal digits of a non-negative `value` into `buffer` (24 bytes): async-signal-safe. */
static void decimal(char *buffer, int value) {
    char reversed[24];
    int length = 0;
    unsigned int rest = value < 0 ? 0 : (unsigned int)value;
    do {
        reversed[length++] = (char)('0' + rest % 10);
        rest /= 10;
    } while (rest > 0 && length < 23);
    for (int i = 0; i < length; i++) buffer[i] = reversed[length - 1 - i];
    buffer[length] = 0;
}

#define AD_MAX_CARRIED 8

/* Makes `path` and every directory above it (mode 0700), as mkdir -p: async-signal-safe. */
static int make_directories(const char *path) {
    char buffer[4096];
    size_t length = 0;
    while (path[length] && length < sizeof buffer - 1) {
        buffer[length] = path[length];
        length++;
    }
    if (path[length]) {
        errno = ENAMETOOLONG;
        return -1;
    }
    buffer[length] = 0;
    for (size_t i = 1; i <= length; i++) {
        if (buffer[i] != '/' && buffer[i] != 0) continue;
        char kept = buffer[i];
        buffer[i] = 0;
        if (mkdir(buffer, 0700) != 0 && errno != EEXIST) return -1;
        buffer[i] = kept;
    }
    return 0;
}

static int layer_directory(const char *path, const char *layer, const char *data);

/* Brings up `lo` in the current network namespace (needs CAP_NET_ADMIN there: root, or the
   owner of a new user namespace that made it). 0, or -1 with errno. */
static int loopback_up(void) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct ifreq request;
    memset(&request, 0, sizeof request);
    memcpy(request.ifr_name, "lo", 3);
    int result = ioctl(fd, SIOCGIFFLAGS, &request);
    if (result == 0) {
        request.ifr_flags |= IFF_UP;
        result = ioctl(fd, SIOCSIFFLAGS, &request);
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return result;
}

#define AD_MAX_KEPT_VISIBLE 32

/* Whether `path` is `directory` or lies below it. */
static int is_below(const char *path, const char *directory) {
    size_t length = strlen(directory);
    if (strncmp(path, directory, length) != 0) return 0;
    return path[length] == 0 || path[length] == '/' || (length == 1 && directory[0] == '/');
}

/* Covers each masked directory with an empty tmpfs, then binds back, at the same paths, the
   writable and visible directories that lay below one (from descriptors opened before the
   masks), and makes the masks read-only: what else was there (a session bus's or an agent's
   Unix socket, which a read-only mount does not keep a process from connecting to, the
   caller's files) is out of reach. Writable paths are made writable again afterwards. */
static void mask_directories(const ad_spawn_options *options, int report_fd) {
    int fds[AD_MAX_KEPT_VISIBLE];
    const char *paths[AD_MAX_KEPT_VISIBLE];
    int count = 0;
    for (int pass = 0; pass < 2; pass++) {
        const char *const *list = pass == 0 ? options->writable_paths : options->visible_paths;
        int length = pass == 0 ? options->writable_count : options->visible_count;
        for (int i = 0; i < length; i++) {
            int below = 0;
            for (int m = 0; m < options->masked_count; m++) below |= is_below(list[i], options->masked_paths[m]);
            if (!below) continue;
            if (count == AD_MAX_KEPT_VISIBLE) {
                errno = E2BIG;
                report_and_exit(report_fd, STEP_MASK);
            }
            fds[count] = open(list[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (fds[count] < 0) report_and_exit(report_fd, STEP_MASK);
            paths[count++] = list[i];
        }
    }
    for (int m = 0; m < options->masked_count; m++) {
        if (mount("tmpfs", options->masked_paths[m], "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=1m,nr_inodes=4096") != 0) {
            report_and_exit(report_fd, STEP_MASK);
        }
    }
    for (int i = 0; i < count; i++) {
        char source[64], number[24];
        decimal(number, fds[i]);
        join_path(source, "/proc/self/fd/", number);
        if (make_directories(paths[i]) != 0 || mount(source, paths[i], NULL, MS_BIND | MS_REC, NULL) != 0 ||
            remount(paths[i], MS_RDONLY) != 0) {
            report_and_exit(report_fd, STEP_MASK);
        }
        close(fds[i]);
    }
    for (int m = 0; m < options->masked_count; m++) {
        if (remount(options->masked_paths[m], MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC) != 0) report_and_exit(report_fd, STEP_MASK);
    }
}

/* Builds the mount namespace: everything read-only but the writable paths, a minimal /dev. */
/* The sources bound with an identity to keep (bind_identities): their descriptors stay open
   (close-on-exec) in the child until its exec, when that identity is checked again, after the
   gate: a file changed in place while the child waited there is not executed. */
#define AD_MAX_CHECKED_BINDS 8
static int checked_bind_fds[AD_MAX_CHECKED_BINDS];
static const long long *checked_bind_identities[AD_MAX_CHECKED_BINDS];
static int checked_bind_count;

/* Whether the file open as `fd` is still what `expected` says (5 values, see bind_identities). */
static int has_identity(int fd, const long long *expected) {
    struct stat status;
    if (fstat(fd, &status) != 0) return 0;
    long long modified = (long long)status.st_mtim.tv_sec * 1000000000LL + status.st_mtim.tv_nsec;
    long long changed = (long long)status.st_ctim.tv_sec * 1000000000LL + status.st_ctim.tv_nsec;
    return (long long)status.st_dev == expected[0] && (long long)status.st_ino == expected[1] &&
           (long long)status.st_size == expected[2] && modified == expected[3] && changed == expected[4];
}

static void confine_mounts(const ad_spawn_options *options, int report_fd) {
    if (unshare(CLONE_NEWNS) != 0) report_and_exit(report_fd, STEP_UNSHARE_MOUNT);
    /* Nothing done here may propagate back to the parent's namespace. */
    if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) report_and_exit(report_fd, STEP_MOUNT);
    if (options->device_count > 0) {
        /* Only harmless devices: a process with uid 0 still owns /dev/vda and the like. The new
           /dev is a tmpfs of this namespace, so building it writes nothing to any disk (a FUSE or
           network file system under the home never sees it). Each device is bound from a
           descriptor opened before the tmpfs hides the host's /dev. */
        int device_fds[AD_MAX_DEVICES];
        int count = options->device_count < AD_MAX_DEVICES ? options->device_count : AD_MAX_DEVICES;
        for (int i = 0; i < count; i++) {
            char source[64];
            join_path(source, "/dev/", options->device_names[i]);
            device_fds[i] = open(source, O_PATH | O_CLOEXEC | O_NOFOLLOW);
            if (device_fds[i] < 0) report_and_exit(report_fd, STEP_BIND_DEVICES);
        }
        /* A directory under /dev (a sandbox on /dev/shm) would be hidden by the new /dev: it is
           opened now and bound at the same path inside it. */
        int carried_fds[AD_MAX_CARRIED];
        const char *carried_paths[AD_MAX_CARRIED];
        int carried = 0;
        for (int i = 0; i < options->carried_count && carried < AD_MAX_CARRIED; i++) {
            if (strncmp(options->carried_paths[i], "/dev/", 5) != 0) continue;
            carried_fds[carried] = open(options->carried_paths[i], O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
            if (carried_fds[carried] < 0) report_and_exit(report_fd, STEP_BIND_DEVICES);
            carried_paths[carried++] = options->carried_paths[i];
        }
        if (mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k,nr_inodes=64") != 0) {
            report_and_exit(report_fd, STEP_BIND_DEVICES);
        }
        for (int i = 0; i < count; i++) {
            char target[64], source[64], number[24];
            join_path(target, "/dev/", options->device_names[i]);
            decimal(number, device_fds[i]);
            join_path(source, "/proc/self/fd/", number);
            int made = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
            if (made < 0) report_and_exit(report_fd, STEP_BIND_DEVICES);
            close(made);
            if (mount(source, target, NULL, MS_BIND, NULL) != 0) report_and_exit(report_fd, STEP_BIND_DEVICES);
            close(device_fds[i]);
        }
        static const char *const links[][2] = {{"/dev/fd", "/proc/self/fd"}, {"/dev/stdin", "/proc/self/fd/0"},
                                               {"/dev/stdout", "/proc/self/fd/1"}, {"/dev/stderr", "/proc/self/fd/2"}};
        for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
            if (symlink(links[i][1], links[i][0]) != 0) report_and_exit(report_fd, STEP_BIND_DEVICES);
        }
        for (int i = 0; i < carried; i++) {
            char source[64], number[24];
            decimal(number, carried_fds[i]);
            join_path(source, "/proc/self/fd/", number);
            if (make_directories(carried_paths[i]) != 0 || mount(source, carried_paths[i], NULL, MS_BIND | MS_REC, NULL) != 0 ||
                remount(carried_paths[i], MS_RDONLY | MS_NOSUID | MS_NODEV) != 0) {
                report_and_exit(report_fd, STEP_BIND_DEVICES);
            }
            close(carried_fds[i]);
        }
        if (options->private_terminals) {
            /* A devpts instance of this namespace: its terminals are the program's own. No gid
               option (the host's tty group is not mapped in a user namespace). */
            if (mkdir("/dev/pts", 0755) != 0 ||
                mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620") != 0 ||
                symlink("pts/ptmx", "/dev/ptmx") != 0) {
                report_and_exit(report_fd, STEP_TERMINALS);
            }
        }
        if (remount("/dev", MS_RDONLY | MS_NOSUID | MS_NOEXEC) != 0) report_and_exit(report_fd, STEP_BIND_DEVICES);
    }
    for (int i = 0; i < options->readonly_count; i++) {
        const char *path = options->readonly_mounts[i];
        if (remount(path, MS_RDONLY) != 0) {
            /* A mount hidden under a later one (or whose mount point is gone) is not a mount
               point at that path any more: nothing can reach it there. */
            if (errno == EINVAL || errno == ENOENT || errno == ENOTDIR) continue;
            /* Below a directory this uid may not search (a root-only mount point): nothing it
               runs can reach that mount by this path either. */
            if (errno == EACCES) continue;
            report_and_exit(report_fd, STEP_REMOUNT_READ_ONLY);
        }
    }
    if (options->masked_count > 0) mask_directories(options, report_fd);
    for (int i = 0; i < options->writable_count; i++) {
        const char *path = options->writable_paths[i];
        /* A bind of a path on a read-only mount is read-only: remount it writable. */
        if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) != 0 || remount(path, MS_NOSUID | MS_NODEV) != 0) {
            report_and_exit(report_fd, STEP_BIND_WRITABLE);
        }
    }
    for (int i = 0; i < options->tmpfs_count; i++) {
        if (mount("tmpfs", options->tmpfs_paths[i], "tmpfs", MS_NOSUID | MS_NODEV, options->tmpfs_options) != 0) {
            report_and_exit(report_fd, STEP_MOUNT_TMPFS);
        }
    }
    int kept_fds[AD_MAX_CARRIED];
    int kept = options->kept_count < AD_MAX_CARRIED ? options->kept_count : AD_MAX_CARRIED;
    for (int i = 0; i < kept; i++) {
        kept_fds[i] = open(options->kept_files[i], O_PATH | O_CLOEXEC | O_NOFOLLOW);
        if (kept_fds[i] < 0) report_and_exit(report_fd, STEP_LAYER);
    }
    for (int i = 0; i < options->layered_count; i++) {
        if (layer_directory(options->layered_paths[i], options->layer_paths[i], options->layer_options) != 0) {
            report_and_exit(report_fd, STEP_LAYER);
        }
    }
    for (int i = 0; i < kept; i++) {
        char source[64], number[24];
        decimal(number, kept_fds[i]);
        join_path(source, "/proc/self/fd/", number);
        if (mount(source, options->kept_files[i], NULL, MS_BIND, NULL) != 0 ||
            remount(options->kept_files[i], MS_NOSUID | MS_NODEV | MS_NOEXEC) != 0) {
            report_and_exit(report_fd, STEP_LAYER);
        }
        close(kept_fds[i]);
    }
    for (int i = 0; i < options->bind_count; i++) {
        const char *target = options->bind_targets[i];
        const char *source = options->bind_sources[i];
        const long long *expected = options->bind_identities ? options->bind_identities + 5 * i : NULL;
        char through[64], number[24];
        if (expected && expected[1] != 0) {
            /* The file bound is the one opened and checked here, whatever the path names by the
               time of the mount. */
            if (checked_bind_count == AD_MAX_CHECKED_BINDS) {
                errno = E2BIG;
                report_and_exit(report_fd, STEP_BIND_READ_ONLY);
            }
            int fd = open(source, O_PATH | O_CLOEXEC | O_NOFOLLOW);
            if (fd < 0) report_and_exit(report_fd, STEP_BIND_READ_ONLY);
            /* Clear of the descriptor number the program inherits, put in place later. */
            if (options->inherit_fd >= 0 && fd <= options->inherit_fd_target) {
                int moved = fcntl(fd, F_DUPFD_CLOEXEC, options->inherit_fd_target + 1);
                close(fd);
                fd = moved;
                if (fd < 0) report_and_exit(report_fd, STEP_BIND_READ_ONLY);
            }
            if (!has_identity(fd, expected)) {
                errno = ESTALE;
                report_and_exit(report_fd, STEP_BIND_CHANGED);
            }
            checked_bind_fds[checked_bind_count] = fd;
            checked_bind_identities[checked_bind_count++] = expected;
            decimal(number, fd);
            join_path(through, "/proc/self/fd/", number);
            source = through;
        }
        if (mount(source, target, NULL, MS_BIND, NULL) != 0 || remount(target, MS_RDONLY) != 0) {
            report_and_exit(report_fd, STEP_BIND_READ_ONLY);
        }
    }
}

/* Makes the directory `path` an overlay whose upper layer is a fresh tmpfs mounted on `layer`
   with `data`: the directory's own content is the read-only lower layer. The layers are named by
   descriptors (/proc/self/fd/N), so no path needs escaping in the mount data. */
static int layer_directory(const char *path, const char *layer, const char *data) {
    if (mount("tmpfs", layer, "tmpfs", MS_NOSUID | MS_NODEV, data) != 0) return -1;
    int top = open(layer, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (top < 0) return -1;
    if (mkdirat(top, "upper", 0700) != 0 || mkdirat(top, "work", 0700) != 0) return -1;
    int fds[3] = {open(path, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW),
                  openat(top, "upper", O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW),
                  openat(top, "work", O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)};
    if (fds[0] < 0 || fds[1] < 0 || fds[2] < 0) return -1;
    static const char *const keys[3] = {"lowerdir=/proc/self/fd/", ",upperdir=/proc/self/fd/", ",workdir=/proc/self/fd/"};
    char options[192];
    size_t length = 0;
    for (int i = 0; i < 3; i++) {
        char number[24];
        decimal(number, fds[i]);
        for (const char *p = keys[i]; *p; p++) options[length++] = *p;
        for (const char *p = number; *p; p++) options[length++] = *p;
    }
    options[length] = 0;
    int result = mount("overlay", path, "overlay", MS_NOSUID | MS_NODEV, options);
    int saved = errno;
    for (int i = 0; i < 3; i++) close(fds[i]);
    close(top);
    errno = saved;
    return result;
}

#if defined(__x86_64__)
#define AD_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define AD_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif
#ifndef SYS_memfd_secret
#define SYS_memfd_secret 447
#endif

/* Refuses the calls that make memory no rlimit and no file system the parent can see accounts
   for: memfd_create (a file on the kernel's internal shm mount), memfd_secret, shmget (a
   System V segment that lives on unattached), msgget and semget (queues and semaphore sets,
   kernel memory up to the namespace's limits); and the keyrings (add_key, request_key,
   keyctl): a uid's keyring is not the sandbox's, it outlives the run and holds secrets. Any other ABI is refused whole (x32 numbers on
   x86_64 carry bit 30; i386 and arm32 are another audit arch), so no alias slips past. */
static int deny_memory_files(void) {
#ifdef AD_AUDIT_ARCH
    struct sock_filter program[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AD_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_memfd_create, 8, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_memfd_secret, 7, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_shmget, 6, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_msgget, 5, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_semget, 4, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_add_key, 3, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_request_key, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_keyctl, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
    };
    struct sock_fprog filter = {(unsigned short)(sizeof program / sizeof program[0]), program};
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &filter, 0, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}

/* After this, exec gives uid 0 no capabilities, and nothing (setuid, file capabilities) adds any. */
static int scope_abstract_sockets(void);

static void drop_privileges(const ad_spawn_options *options, int report_fd) {
    if (options->drop_capabilities) {
        int bits = AD_SECBIT_NOROOT | AD_SECBIT_NOROOT_LOCKED | AD_SECBIT_NO_SETUID_FIXUP |
                   AD_SECBIT_NO_SETUID_FIXUP_LOCKED | AD_SECBIT_KEEP_CAPS_LOCKED;
        if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) != 0) report_and_exit(report_fd, STEP_SECUREBITS);
        for (int capability = 0; capability < 64; capability++) {
            if (prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0) {
                if (errno == EINVAL) break; /* past the last capability this kernel knows */
                report_and_exit(report_fd, STEP_DROP_BOUNDING);
            }
        }
    }
    if (options->no_new_privileges) {
        /* EINVAL: a kernel without ambient capabilities has none to clear. */
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
            report_and_exit(report_fd, STEP_CAPSET);
        }
        struct ad_cap_header header = {AD_CAPABILITY_VERSION_3, 0};
        struct ad_cap_data data[2];
        memset(data, 0, sizeof data);
        if (syscall(SYS_capset, &header, data) != 0) report_and_exit(report_fd, STEP_CAPSET);
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) report_and_exit(report_fd, STEP_NO_NEW_PRIVS);
    }
    if (options->deny_memory_files && deny_memory_files() != 0) report_and_exit(report_fd, STEP_SECCOMP);
    if (options->scope_abstract_sockets && scope_abstract_sockets() != 0) report_and_exit(report_fd, STEP_LANDLOCK);
}

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif

/* linux/landlock.h, ABI 6: a ruleset handling no access right, only scopes. */
struct ad_landlock_ruleset_attr { unsigned long long handled_access_fs, handled_access_net, scoped; };
#define AD_LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)

/* Confines the process (and all it starts) to the abstract Unix sockets made inside its own
   Landlock domain: one the caller's session listens on (an X server's, a bus's) cannot be
   connected to, even where the network namespace is shared. Needs Landlock ABI 6 (Linux 6.12);
   0, or -1 with errno (EOPNOTSUPP or ENOSYS where missing, EINVAL before ABI 6). */
static int scope_abstract_sockets(void) {
    struct ad_landlock_ruleset_attr attributes = {0, 0, AD_LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET};
    long fd = syscall(SYS_landlock_create_ruleset, &attributes, sizeof attributes, 0);
    if (fd < 0) return -1;
    long result = syscall(SYS_landlock_restrict_self, (int)fd, 0);
    int saved = errno;
    close((int)fd);
    errno = saved;
    return result == 0 ? 0 : -1;
}

/* Writes the decimal `pid` into `fd` from offset 0, replacing what it held. */
static int write_pid(int fd, pid_t pid) {
    char digits[24];
    decimal(digits, (int)pid);
    size_t length = strlen(digits);
    if (ftruncate(fd, 0) != 0) return -1;
    ssize_t written = pwrite(fd, digits, length, 0);
    if (written != (ssize_t)length) {
        if (written >= 0) errno = EIO;
        return -1;
    }
    return 0;
}

/* Closes every descriptor from 3 up but the `count` of `kept` (any order; -1 for none). */
static void close_all_but(int *kept, int count) {
    for (int pass = 1; pass < count; pass++) {
        for (int index = pass; index > 0 && kept[index - 1] > kept[index]; index--) {
            int swap = kept[index];
            kept[index] = kept[index - 1];
            kept[index - 1] = swap;
        }
    }
    unsigned first = 3;
    for (int index = 0; index < count; index++) {
        if (kept[index] < (int)first) continue;
        if (kept[index] > (int)first) syscall(SYS_close_range, first, (unsigned)kept[index] - 1, 0);
        first = (unsigned)kept[index] + 1;
    }
    syscall(SYS_close_range, first, ~0U, 0);
}

int ad_spawn(const char *path, char *const argv[], char *const envp[],
             const ad_spawn_options *options, int *pid_out, int *child_errno, const char **failed_step) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) return -1;

    pid_t parent = getpid();
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);

    pid_t pid = fork();
    if (pid < 0) {
        int saved = errno;
        pthread_sigmask(SIG_SETMASK, &previous, NULL);
        close(report[0]);
        close(report[1]);
        errno = saved;
        return -1;
    }
    if (pid == 0) {
        /* Nothing of the caller's but what it passes: a file it writes meanwhile (the program
           the gate holds back) has no writer here (close-on-exec descriptors close only once the
           exec has succeeded, after the kernel refuses a file open for writing with ETXTBSY),
           and the gate's write end is the caller's. */
        int given[] = {report[1], options->stdin_fd, options->stdout_fd, options->stderr_fd,
                       options->inherit_fd, options->cgroup_procs_fd, options->exec_gate_fd};
        close_all_but(given, (int)(sizeof given / sizeof given[0]));
        /* Child: default dispositions, empty mask, then the requested confinement. */
        for (int signal_number = 1; signal_number < NSIG; signal_number++) {
            signal(signal_number, SIG_DFL);
        }
        sigset_t none;
        sigemptyset(&none);
        pthread_sigmask(SIG_SETMASK, &none, NULL);
        int report_fd = report[1];
        if (options->inherit_fd >= 0 && report_fd <= options->inherit_fd_target) {
            /* Keep the report pipe clear of the descriptor number the program inherits. */
            report_fd = fcntl(report_fd, F_DUPFD_CLOEXEC, options->inherit_fd_target + 1);
            if (report_fd < 0) _exit(127);
        }
        /* Clear of the standard descriptors and of the inherited one, which are put in place below
           (a caller started with stdio closed gets a gate at 0, 1 or 2). */
        int gate_fd = options->exec_gate_fd;
        int gate_floor = options->inherit_fd >= 0 && options->inherit_fd_target >= 3 ? options->inherit_fd_target + 1 : 3;
        if (gate_fd >= 0 && (gate_fd < 3 || (options->inherit_fd >= 0 && gate_fd == options->inherit_fd_target))) {
            gate_fd = fcntl(gate_fd, F_DUPFD_CLOEXEC, gate_floor);
            if (gate_fd < 0) report_and_exit(report_fd, STEP_GATE);
        }

        /* The child dies with the process that started it, even by SIGKILL. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        /* A new session: no controlling terminal, so nothing it runs can open /dev/tty, push
           input into the caller's terminal (TIOCSTI) or receive the terminal's signals. */
        if (options->new_session && setsid() < 0) report_and_exit(report_fd, STEP_SETSID);
        /* Into its cgroup before it can start anything: all it starts is in there too. */
        if (options->cgroup_procs_fd >= 0 && ad_cgroup_join(options->cgroup_procs_fd) != 0) report_and_exit(report_fd, STEP_CGROUP);
        if (options->new_user_namespace) {
            if (unshare(CLONE_NEWUSER) != 0) report_and_exit(report_fd, STEP_UNSHARE_USER);
            if (write_file("/proc/self/setgroups", "deny") != 0 ||
                write_file("/proc/self/uid_map", options->uid_map) != 0 ||
                write_file("/proc/self/gid_map", options->gid_map) != 0) {
                report_and_exit(report_fd, STEP_UID_MAP);
            }
        }
        if (options->new_network_namespace && unshare(CLONE_NEWNET) != 0) report_and_exit(report_fd, STEP_UNSHARE_NET);
        if (options->new_network_namespace && options->loopback_up && loopback_up() != 0) report_and_exit(report_fd, STEP_LOOPBACK);
        if (options->new_ipc_namespace && unshare(CLONE_NEWIPC) != 0) report_and_exit(report_fd, STEP_UNSHARE_IPC);
        if (options->new_mount_namespace) confine_mounts(options, report_fd);
        if (options->new_pid_namespace) {
            if (unshare(CLONE_NEWPID) != 0) report_and_exit(report_fd, STEP_UNSHARE_PID);
            /* The next child is pid 1 of the namespace; this process relays its end. */
            pid_t init = fork();
            if (init < 0) report_and_exit(report_fd, STEP_FORK);
            if (init > 0) {
                /* The relay only waits: it must not keep the parent's descriptors (a held lock
                   above all) open after the parent has died. */
                syscall(SYS_close_range, 3, ~0U, 0);
                int status;
                while (waitpid(init, &status, 0) < 0) {
                    if (errno != EINTR) _exit(127);
                }
                if (WIFSIGNALED(status)) {
                    signal(WTERMSIG(status), SIG_DFL);
                    kill(getpid(), WTERMSIG(status));
                }
                _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 127);
            }
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            /* The /proc inherited shows the parent's namespace, where /proc/1/root is the
               host's root: a fresh one shows only this namespace. */
            if (options->new_mount_namespace &&
                mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL) != 0) {
                report_and_exit(report_fd, STEP_MOUNT_PROC);
            }
        }
        for (int i = 0; i < options->limit_count; i++) {
            struct rlimit limit = {(rlim_t)options->limits[i].value, (rlim_t)options->limits[i].value};
            if (setrlimit(options->limits[i].resource, &limit) != 0) report_and_exit(report_fd, STEP_SETRLIMIT);
        }
        if (options->cwd && chdir(options->cwd) != 0) report_and_exit(report_fd, STEP_CHDIR);
        int fds[3] = {options->stdin_fd, options->stdout_fd, options->stderr_fd};
        for (int target = 0; target < 3; target++) {
            if (fds[target] >= 0 && fds[target] != target && dup2(fds[target], target) < 0) {
                report_and_exit(report_fd, STEP_DUP2);
            }
        }
        /* Nothing of the parent's beyond stdio (and the one descriptor asked for) reaches the
           program (a held lock above all). */
        if (options->inherit_fd >= 0) {
            int target = options->inherit_fd_target;
            if (options->inherit_fd == target) {
                if (fcntl(target, F_SETFD, 0) != 0) report_and_exit(report_fd, STEP_INHERIT_FD);
            } else if (dup2(options->inherit_fd, target) < 0) {
                report_and_exit(report_fd, STEP_INHERIT_FD);
            }
            if (options->write_pid_to_inherited && write_pid(target, getpid()) != 0) {
                report_and_exit(report_fd, STEP_WRITE_PID);
            }
            if (target > 3) syscall(SYS_close_range, 3, (unsigned)target - 1, CLOSE_RANGE_CLOEXEC);
            syscall(SYS_close_range, (unsigned)target + 1, ~0U, CLOSE_RANGE_CLOEXEC);
        } else {
            syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
        }
        drop_privileges(options, report_fd);
        /* Everything is ready: the program starts once the caller says its file is complete. */
        if (gate_fd >= 0) {
            char word = 0;
            ssize_t got;
            do {
                got = read(gate_fd, &word, 1);
            } while (got < 0 && errno == EINTR);
            if (got < 0) report_and_exit(report_fd, STEP_GATE);
            if (got != 1 || word != '1') {
                errno = ECANCELED;
                report_and_exit(report_fd, STEP_GATE);
            }
            close(gate_fd);
        }
        for (int i = 0; i < checked_bind_count; i++) {
            if (!has_identity(checked_bind_fds[i], checked_bind_identities[i])) {
                errno = ESTALE;
                report_and_exit(report_fd, STEP_BIND_CHANGED);
            }
        }
        execve(path, argv, envp);
        report_and_exit(report_fd, STEP_EXEC);
    }

    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    close(report[1]);
    int message[2];
    ssize_t got;
    do {
        got = read(report[0], message, sizeof message);
    } while (got < 0 && errno == EINTR);
    close(report[0]);
    if (got == (ssize_t)sizeof message) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        *child_errno = message[1];
        *failed_step = step_names[message[0]];
        return -2;
    }
    *pid_out = pid;
    return 0;
}

int ad_pipe_cloexec(int ends[2]) {
    return pipe2(ends, O_CLOEXEC);
}

int ad_pidfd_open(int pid) {
    /* pidfd_open's descriptors are close-on-exec. */
    return (int)syscall(SYS_pidfd_open, pid, 0);
}
