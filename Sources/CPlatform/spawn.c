#define _GNU_SOURCE
#include "CPlatform.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

enum { STEP_EXEC, STEP_UNSHARE_NET, STEP_UNSHARE_MOUNT, STEP_MOUNT, STEP_UNSHARE_PID, STEP_FORK,
       STEP_SETRLIMIT, STEP_CHDIR, STEP_DUP2, STEP_SETPGID };
static const char *step_names[] = {"exec", "unshare-network", "unshare-mount", "mount", "unshare-pid", "fork",
                                   "setrlimit", "chdir", "dup2", "setpgid"};

static void report_and_exit(int pipe_fd, int step) {
    int message[2] = {step, errno};
    ssize_t ignored = write(pipe_fd, message, sizeof message);
    (void)ignored;
    _exit(127);
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
        /* Child: default dispositions, empty mask, then the requested confinement. */
        for (int signal_number = 1; signal_number < NSIG; signal_number++) {
            signal(signal_number, SIG_DFL);
        }
        sigset_t none;
        sigemptyset(&none);
        pthread_sigmask(SIG_SETMASK, &none, NULL);

        /* The child dies with the process that started it, even by SIGKILL. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        if (options->new_process_group && setpgid(0, 0) != 0) report_and_exit(report[1], STEP_SETPGID);
        if (options->new_network_namespace && unshare(CLONE_NEWNET) != 0) report_and_exit(report[1], STEP_UNSHARE_NET);
        if (options->new_mount_namespace) {
            if (unshare(CLONE_NEWNS) != 0) report_and_exit(report[1], STEP_UNSHARE_MOUNT);
            if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) report_and_exit(report[1], STEP_MOUNT);
            for (int i = 0; i < options->readonly_count; i++) {
                const char *path = options->readonly_paths[i];
                if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) != 0 ||
                    mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) != 0) {
                    report_and_exit(report[1], STEP_MOUNT);
                }
            }
            for (int i = 0; i < options->writable_count; i++) {
                const char *path = options->writable_paths[i];
                /* A bind inside a read-only bind inherits read-only: remount it writable. */
                if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) != 0 ||
                    mount(NULL, path, NULL, MS_BIND | MS_REMOUNT, NULL) != 0) {
                    report_and_exit(report[1], STEP_MOUNT);
                }
            }
        }
        if (options->new_pid_namespace) {
            if (unshare(CLONE_NEWPID) != 0) report_and_exit(report[1], STEP_UNSHARE_PID);
            /* The next child is pid 1 of the namespace; this process relays its end. */
            pid_t init = fork();
            if (init < 0) report_and_exit(report[1], STEP_FORK);
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
        }
        for (int i = 0; i < options->limit_count; i++) {
            struct rlimit limit = {(rlim_t)options->limits[i].value, (rlim_t)options->limits[i].value};
            if (setrlimit(options->limits[i].resource, &limit) != 0) report_and_exit(report[1], STEP_SETRLIMIT);
        }
        if (options->cwd && chdir(options->cwd) != 0) report_and_exit(report[1], STEP_CHDIR);
        int fds[3] = {options->stdin_fd, options->stdout_fd, options->stderr_fd};
        for (int target = 0; target < 3; target++) {
            if (fds[target] >= 0 && fds[target] != target && dup2(fds[target], target) < 0) {
                report_and_exit(report[1], STEP_DUP2);
            }
        }
        /* Nothing of the parent's beyond stdio reaches the program (a held lock above all). */
        syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
        execve(path, argv, envp);
        report_and_exit(report[1], STEP_EXEC);
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
