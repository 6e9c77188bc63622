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
    int new_session;           /* setsid(): the child leads a new session and process group, with no
                                  controlling terminal (it cannot open /dev/tty nor push input into
                                  the caller's terminal), and the group can be killed whole */
    int new_user_namespace;    /* unshare(CLONE_NEWUSER) first, then uid_map and gid_map written
                                  ("setgroups" denied), so the namespaces below need no privilege */
    const char *uid_map;       /* e.g. "1000 1000 1\n" */
    const char *gid_map;
    int new_network_namespace; /* unshare(CLONE_NEWNET): a namespace with no interfaces up */
    int new_ipc_namespace;     /* unshare(CLONE_NEWIPC): no System V IPC or POSIX queue of others */
    int new_pid_namespace;     /* the program runs as pid 1 of a new namespace: when it exits,
                                  the kernel kills everything it started, daemons included; with
                                  new_mount_namespace a fresh read-only proc is mounted on /proc */
    int new_mount_namespace;   /* a private mount namespace ("/" rprivate) where every path of
                                  readonly_mounts is bind-remounted read-only (its nosuid, nodev,
                                  noexec and atime flags kept), then writable_paths are bound
                                  writable again */
    const char *const *readonly_mounts;
    int readonly_count;
    const char *const *writable_paths;
    int writable_count;
    const char *const *device_names;     /* with new_mount_namespace and device_count > 0: a fresh
                                            tmpfs on /dev (made in the child's namespace, nothing
                                            written to any disk) holding /dev/<name> bound from the
                                            host's, the fd, stdin, stdout and stderr links, then
                                            remounted read-only, nosuid and noexec */
    int device_count;
    const char *const *carried_paths;    /* with device_count > 0: directories under /dev (a sandbox on
                                            /dev/shm) bound, read-only, at the same path inside the new
                                            /dev, which would hide them; a writable path inside one is
                                            made writable again with the others */
    int carried_count;
    const char *const *tmpfs_paths;      /* with new_mount_namespace: after the writable binds, a
                                            private tmpfs mounted on each (nosuid, nodev), made in
                                            the child's namespace and gone with it: what the program
                                            writes there reaches no disk and no other process */
    int tmpfs_count;
    const char *tmpfs_options;           /* their mount data, e.g. "mode=0700,size=268435456" */
    const char *const *bind_sources;     /* with new_mount_namespace: last, each file or directory
                                            bound read-only onto its target (which must exist) */
    const char *const *bind_targets;
    int bind_count;
    const long long *bind_identities;    /* NULL, or 5 per bind: the device, inode, size, modification
                                            and change time (ns) its source must have (inode 0: any).
                                            Such a source is opened without following a link, must
                                            be that very file (step "bind-changed", ESTALE, if not)
                                            and is bound through that descriptor, checked again
                                            right before the exec (after the gate); at most 8 */
    int drop_capabilities;     /* securebits (no root privilege on exec, locked), the whole bounding
                                  set dropped; needs CAP_SETPCAP (root, or a new user namespace) */
    int no_new_privileges;     /* ambient set cleared, capabilities zeroed, PR_SET_NO_NEW_PRIVS */
    int inherit_fd;            /* -1, or a descriptor the program receives as inherit_fd_target */
    int inherit_fd_target;
    int write_pid_to_inherited;/* the child writes its pid (as it sees it) into inherit_fd_target
                                  (ftruncate + pwrite) just before execve */
    const ad_rlimit *limits;
    int limit_count;
    int cgroup_procs_fd;       /* -1, or an open cgroup.procs the child writes its pid to before
                                  anything else (step "cgroup"): the program and all it starts
                                  live in that cgroup */
    const char *const *layered_paths;    /* with new_mount_namespace (step "layer"): each directory
                                            becomes an overlay whose only writable layer is a private
                                            tmpfs mounted on layer_paths[i] (an empty directory the
                                            program is not told of) with layer_options: everything
                                            it writes there, mapped, deleted while open or not,
                                            counts against that tmpfs's size, and the directory
                                            itself is never changed */
    const char *const *layer_paths;
    int layered_count;
    const char *layer_options;           /* e.g. "mode=0700,size=...,nr_inodes=..." */
    const char *const *kept_files;       /* files inside layered paths opened before the overlays
                                            are mounted and bound, writable, back onto the same
                                            path above them: written in place, where the parent
                                            reads them (a journal); at most 8 */
    int kept_count;
    int deny_memory_files;     /* a seccomp filter (step "seccomp", after no_new_privs) refuses
                                  memfd_create, memfd_secret, shmget, msgget, semget and the
                                  keyring calls with EPERM, and every call of another ABI (x32,
                                  i386) with ENOSYS: memory that is neither mapped (RLIMIT_AS) nor
                                  on a file system the caller can measure, and the uid's keyring,
                                  which outlives the run */
    int loopback_up;           /* with new_network_namespace: its loopback interface brought up (step
                                  "loopback"), so servers and clients on 127.0.0.1 inside work while
                                  nothing outside is reachable */
    int private_terminals;     /* with a fresh /dev (device_count > 0): a new devpts instance on
                                  /dev/pts and /dev/ptmx linked to it (step "terminals"): the
                                  program may make pseudo-terminals of its own, and reaches none
                                  of the host's */
    const char *const *masked_paths;     /* with new_mount_namespace, after the read-only remounts
                                            (step "mask"): each directory covered by an empty
                                            read-only tmpfs, with the writable_paths and
                                            visible_paths below it (at most 32) bound back at the
                                            same paths: a Unix socket or a file elsewhere under
                                            it (a session bus, the caller's HOME) is out of reach */
    int masked_count;
    const char *const *visible_paths;    /* directories kept visible, read-only, below a mask */
    int visible_count;
    int scope_abstract_sockets;          /* last (step "landlock"): a Landlock domain scoped to its
                                            own abstract Unix sockets (ABI 6, Linux 6.12): one the
                                            caller's session listens on cannot be connected to,
                                            even in a shared network namespace */
    int exec_gate_fd;          /* -1, or a pipe's read end the child reads one byte from once it is
                                  ready, right before it executes the program (step "gate"): '1'
                                  lets it run, '0' or the pipe's end ends it first (ECANCELED). The
                                  caller makes the child, its sandbox included, while the program's
                                  file is still written. The child closes at once every
                                  descriptor of the caller's but those the options name. */
} ad_spawn_options;

/// Forks and executes `path` with `argv` and `envp`.
///
/// Everything between fork and exec is async-signal-safe C. On success returns 0 and stores the
/// child's pid. If fork fails returns -1 with errno set. If the child could not be prepared or
/// could not execute the program, the child is reaped, -2 is returned, `*failed_step` names the
/// step ("exec", "unshare-user", "uid-map", "unshare-network", "unshare-ipc", "unshare-mount", "mount",
/// "remount-read-only", "bind-writable", "bind-devices", "mount-tmpfs", "bind-read-only", "unshare-pid", "fork", "mount-proc",
/// "setrlimit", "chdir", "dup2", "setsid", "inherit-fd", "write-pid", "securebits",
/// "drop-bounding-set", "capset", "no-new-privs", "layer", "seccomp", "loopback", "terminals", "mask", "landlock", "gate") and `*child_errno` its errno.
int ad_spawn(const char *path, char *const argv[], char *const envp[],
             const ad_spawn_options *options, int *pid, int *child_errno, const char **failed_step);

/// `pipe2(ends, O_CLOEXEC)`: both ends close-on-exec from the start (no fork in between sees
/// them without it). 0, or -1 with errno.
int ad_pipe_cloexec(int ends[2]);

/// A descriptor that becomes readable when the child `pid` ends (Linux pidfd_open, close-on-exec),
/// or -1 with errno (ENOSYS before Linux 5.3).
int ad_pidfd_open(int pid);

/// Installs SIGINT and SIGTERM handlers that only record the request (async-signal-safe).
void ad_install_cancel_handlers(void);

/// The signal that asked to cancel (SIGINT or SIGTERM), or 0.
int ad_cancel_signal(void);

/// Records a request to cancel as if `signal_number` had arrived (a key such as Esc asks it).
void ad_cancel_request(int signal_number);

/// `accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)` (a GNU extension Swift's Glibc
/// module does not export): the accepted descriptor, or -1 with errno set.
int ad_accept_nonblocking(int listener);

/// Starts writeback of `count` bytes from `offset` without waiting (Linux sync_file_range with
/// SYNC_FILE_RANGE_WRITE; 0 and nothing elsewhere). -1 with errno on failure.
int ad_start_writeback(int fd, long long offset, long long count);
/* copy_file_range(2) from input's offset to output's, both advanced: the bytes copied, or -1 with errno. */
long ad_copy_file_range(int input, int output, unsigned long count);

/// renameat2(2)'s flags: never replace what is at the new name (EEXIST then); exchange the two names.
#define AD_RENAME_NOREPLACE 1u
#define AD_RENAME_EXCHANGE 2u

/// Linux renameat2(2) of `from` to `to` with `flags` (AD_RENAME_*): 0, or -1 with errno (EINVAL
/// or ENOSYS where the file system or the kernel cannot).
int ad_rename2(const char *from, const char *to, unsigned flags);

/// The magic number of the file system holding `fd` (`fstatfs`'s f_type, e.g. 0x01021994 for a
/// tmpfs), or -1 with errno.
long long ad_file_system_type(int fd);

/// Options of `ad_watchdog_start`.
typedef struct {
    int confirm_read_fd;       /* a byte here stands the watchdog down; end of file or the deadline does not */
    int confirm_write_fd;      /* the other end, closed in the watchdog */
    int lock_fd;               /* the home's lock, closed in the watchdog before it runs the old version */
    int listener_count;        /* listening sockets at 3, 4, ... (kept; every other descriptor is closed) */
    long deadline_ms;
    const char *path;          /* the old version's binary */
    char *const *argv;
    char *const *envp;         /* includes "LISTEN_PID=" whose value is written at listen_pid_value */
    char *listen_pid_value;    /* room for 21 bytes inside the LISTEN_PID entry of envp */
} ad_watchdog_options;

/// Forks a watchdog for a restart about to `exec`: it waits up to the deadline for a byte on
/// `confirm_read_fd`; on a byte it exits 0; on end of file or the deadline it kills its parent
/// (the new version), waits until it is gone, closes the lock and execs `path` with the listening
/// sockets it inherited at 3, 4, … and `LISTEN_PID` set to its own pid. Only async-signal-safe
/// calls run in the child. Returns 0 and the watchdog's pid, or -1 with errno set.
int ad_watchdog_start(const ad_watchdog_options *options, int *pid);

/// The version stamp: a marker in the binary's data followed by room for a version string
/// (NUL-terminated, empty when the binary was never stamped). A release pipeline writes the
/// version into a built file (`autodev release stamp`) without rebuilding it.
#define AD_VERSION_STAMP_MARKER "@(#)selfupgrade-version-stamp:"
#define AD_VERSION_STAMP_MARKER_LENGTH 30
#define AD_VERSION_STAMP_CAPACITY 64

/// The stamp area: the marker, then the version (all NUL when unstamped).
const char *ad_version_stamp(void);

/// Options of `ad_spawn_supervised`.
typedef struct {
    const char *path;
    char *const *argv;
    char *const *envp;
    char *listen_pid_value;    /* NULL, or room for 21 bytes inside envp's LISTEN_PID entry: the child writes its pid there */
    const int *listeners;      /* placed at 3, 4, ... in the child (at most 64); every other descriptor but stdio is closed */
    int listener_count;
    int new_process_group;     /* setpgid(0, 0) */
    int parent_death_signal;   /* 0, or the signal the child gets when the parent dies (PR_SET_PDEATHSIG) */
    int cgroup_procs_fd;       /* -1, or an open cgroup.procs the child writes its pid to (joins that cgroup) */
} ad_supervised_options;

/// Writes the calling process's pid to `procs_fd` (an open `cgroup.procs`): it joins that
/// cgroup. Async-signal-safe. 0, or -1 with errno.
int ad_cgroup_join(int procs_fd);

/// Starts a watcher for the cgroup `root_path` (in `parent_path`, named `root_name`): a process
/// that is nobody's child (double fork, new session, SIGINT/SIGTERM/SIGHUP ignored) and waits for
/// end of file on a pipe whose write end only the caller holds (close-on-exec). When the caller
/// is gone, however it ended (SIGKILL included), or closes that end, the watcher sends SIGTERM to
/// every process in the cgroup's leaves and waits up to `grace_ms` for them to exit (none when
/// 0), then writes "1" to `cgroup.kill` (every process left in the cgroup and below dies) and
/// removes the directories. Returns 0 with the write end, or -1 with errno.
int ad_tree_watcher_start(const char *root_path, const char *parent_path, const char *root_name, long grace_ms, int *write_end);

/// Removes the directory `name` in `parent_path` and every entry in it but directories, in a
/// process of its own (its own session, nice 10, no descriptor of the caller's) that outlives
/// the caller: the caller waits only for a fork. With `wait_ms` above 0 the remover first waits
/// for the caller to exit, at most that long (`pidfd_open`; not at all where the kernel has no
/// pidfds). A directory that holds a directory is left as it is. 0 once the remover was started;
/// -1 with errno otherwise.
int ad_remove_detached(const char *parent_path, const char *name, int wait_ms);
/* ad_remove_detached inside a directory the caller opened (and keeps open). */
int ad_remove_detached_at(int directory, const char *name, int wait_ms);

/// The id of the mount `fd` is open on (`statx`, `STATX_MNT_ID`), or -1 where the kernel does not
/// say: a bind mount of the same file system has the same device but another mount id.
long long ad_mount_id(int fd);

/// Marks the calling process a child subreaper (PR_SET_CHILD_SUBREAPER): orphans among its
/// descendants become its children. 0, or -1 with errno.
int ad_become_subreaper(void);

/// Forks and executes a supervised program: signal mask emptied and dispositions reset, the
/// listeners at 3, 4, ..., `LISTEN_PID` set to the child's own pid. Only async-signal-safe calls
/// run in the child. Returns 0 and the pid; -1 with errno when fork failed; -2 with
/// `*child_errno` when the child could not be prepared or could not execute (it is reaped).
int ad_spawn_supervised(const ad_supervised_options *options, int *pid, int *child_errno);

/// Installs handlers for `signals` that write the signal's number (one byte) to a pipe, and
/// unblocks them in the calling thread (a mask inherited from the parent would hide them).
/// Returns the pipe's read end (non-blocking, close-on-exec), or -1 with errno.
int ad_signal_pipe_install(const int *signals, int count);

/// A datagram socket bound at `address` (`@name`: abstract; else a path) with SO_PASSCRED, for
/// sd_notify messages. Returns the descriptor (non-blocking, close-on-exec) or -1 with errno.
int ad_notify_bind(const char *address);

/// Receives one datagram without waiting and the sender's pid (0 when unknown); descriptors
/// passed along are closed. Returns its length (capacity + 1 when truncated), -1 with errno.
long ad_notify_receive(int fd, char *buffer, size_t capacity, int *sender);

/// Sends one datagram to `address` (`@name`: abstract; else a path). 0, or -1 with errno.
int ad_notify_send(const char *address, const char *payload, size_t length);

/// The user id of the peer of a connected Unix socket (SO_PEERCRED). 0, or -1 with errno.
int ad_peer_user(int fd, unsigned *uid);

/// Puts the terminal at `fd` in character mode (no line editing, no echo; keys sent as they are
/// typed; ISIG kept when `keep_signals`) and remembers its mode. Until `ad_terminal_leave`, a
/// fatal signal (SIGHUP, SIGQUIT, SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS)
/// writes `leave` (escape sequences that undo the screen's changes; may be NULL), restores the
/// mode, and ends the process as the signal would have; they are unblocked if an inherited mask
/// blocked them. With `keep_signals`, SIGTSTP (Ctrl-Z) restores the terminal the same way
/// before the process stops, and when it continues the character mode is set again, `resume`
/// (may be NULL) is written and a resize is recorded, so a view redraws itself. 0, or -1 with errno.
int ad_terminal_enter(int fd, int keep_signals, const char *leave, const char *resume);

/// Writes the `leave` sequence and restores the mode remembered by `ad_terminal_enter`
/// (async-signal-safe; nothing when no mode is remembered).
void ad_terminal_leave(void);

/// The terminal's size in rows and columns (TIOCGWINSZ). 0, or -1 with errno.
int ad_terminal_size(int fd, int *rows, int *columns);

/// Records SIGWINCH (the terminal was resized) for `ad_terminal_take_resize`, instead of
/// ignoring it; a wait (poll) in progress is interrupted.
void ad_terminal_watch_resize(void);

/// 1 when SIGWINCH arrived since the last call, else 0 (the record is cleared).
int ad_terminal_take_resize(void);

#endif
