#ifndef AUTODEV_CPLATFORM_H
#define AUTODEV_CPLATFORM_H

#include <stddef.h>

/// One resource limit applied in the child before it executes its program.
typedef struct {
    int resource;              /* RLIMIT_CPU, RLIMIT_AS, ... */
    unsigned long long value;  /* soft and hard limit */
} ad_rlimit;

/// Options of `ad_spawn`. Descriptors of -1 leave the parent's in place.
typedef struct {
    const char *cwd;
    int stdin_fd;
    int stdout_fd;
    int stderr_fd;
    int new_process_group;     /* setpgid(0, 0): the child leads a group that can be killed whole */
    int new_network_namespace; /* unshare(CLONE_NEWNET): a namespace with no interfaces up */
    int new_pid_namespace;     /* the program runs as pid 1 of a new namespace: when it exits,
                                  the kernel kills everything it started, daemons included */
    int new_mount_namespace;   /* a private mount namespace where readonly_paths are bind-mounted
                                  read-only, then writable_paths bind-mounted writable again */
    const char *const *readonly_paths;
    int readonly_count;
    const char *const *writable_paths;
    int writable_count;
    const ad_rlimit *limits;
    int limit_count;
} ad_spawn_options;

/// Forks and executes `path` with `argv` and `envp`.
///
/// Everything between fork and exec is async-signal-safe C. On success returns 0 and stores the
/// child's pid. If fork fails returns -1 with errno set. If the child could not be prepared or
/// could not execute the program, the child is reaped, -2 is returned, `*failed_step` names the
/// step ("exec", "unshare-network", "unshare-mount", "mount", "unshare-pid", "fork", "setrlimit",
/// "chdir", "dup2", "setpgid") and `*child_errno` its errno.
int ad_spawn(const char *path, char *const argv[], char *const envp[],
             const ad_spawn_options *options, int *pid, int *child_errno, const char **failed_step);

/// Installs SIGINT and SIGTERM handlers that only record the request (async-signal-safe).
void ad_install_cancel_handlers(void);

/// The signal that asked to cancel (SIGINT or SIGTERM), or 0.
int ad_cancel_signal(void);

#endif
