#include "CPlatform.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

/* The terminal's mode before `ad_terminal_enter`, restored on every way out. */
static struct termios saved;
static volatile sig_atomic_t saved_fd = -1;
static char leave_sequence[256];
static size_t leave_length = 0;

static void restore_now(void) {
    int fd = saved_fd;
    if (fd < 0) return;
    if (leave_length > 0) {
        ssize_t ignored = write(fd, leave_sequence, leave_length);
        (void)ignored;
    }
    tcsetattr(fd, TCSAFLUSH, &saved);
}

/* The character mode set, and what to write when the program continues after a stop. */
static struct termios character_mode;
static char resume_sequence[256];
static size_t resume_length = 0;
static volatile sig_atomic_t resized = 0;

static void suspend_and_resume(int signal_number);

static void catch_stop(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = suspend_and_resume;
    sigemptyset(&action.sa_mask);
    sigaction(SIGTSTP, &action, NULL);
}

/* Ctrl-Z: the shell gets its terminal back as it was before the program stops, and the
   program takes character mode again (and redraws, as after a resize) when it continues. */
static void suspend_and_resume(int signal_number) {
    int saved_errno = errno;
    int fd = saved_fd;
    restore_now();
    signal(signal_number, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signal_number);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    raise(signal_number);
    /* Continued (SIGCONT). The mask of the handler comes back when it returns. */
    catch_stop();
    if (fd >= 0 && saved_fd == fd) {
        tcsetattr(fd, TCSAFLUSH, &character_mode);
        if (resume_length > 0) {
            ssize_t ignored = write(fd, resume_sequence, resume_length);
            (void)ignored;
        }
    }
    resized = 1;
    errno = saved_errno;
}

static void restore_and_reraise(int signal_number) {
    int saved_errno = errno;
    restore_now();
    saved_fd = -1;
    /* Ends the process as the signal would have, now that the terminal is as it was. */
    signal(signal_number, SIG_DFL);
    raise(signal_number);
    errno = saved_errno;
}

int ad_terminal_enter(int fd, int keep_signals, const char *leave, const char *resume) {
    struct termios mode;
    if (tcgetattr(fd, &mode) != 0) return -1;
    saved = mode;
    leave_length = leave ? strlen(leave) : 0;
    if (leave_length >= sizeof leave_sequence) leave_length = 0;
    if (leave_length > 0) memcpy(leave_sequence, leave, leave_length);
    resume_length = resume ? strlen(resume) : 0;
    if (resume_length >= sizeof resume_sequence) resume_length = 0;
    if (resume_length > 0) memcpy(resume_sequence, resume, resume_length);
    mode.c_lflag &= ~(ICANON | ECHO | IEXTEN);
    if (!keep_signals) mode.c_lflag &= ~ISIG;
    mode.c_iflag &= ~(IXON | ICRNL);
    mode.c_cc[VMIN] = 1;
    mode.c_cc[VTIME] = 0;
    saved_fd = fd;
    /* Fatal signals restore the terminal first; SIGINT and SIGTERM are the caller's to route. */
    static const int fatal[] = {SIGHUP, SIGQUIT, SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS};
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = restore_and_reraise;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESETHAND;
    sigset_t unblock;
    sigemptyset(&unblock);
    for (size_t index = 0; index < sizeof fatal / sizeof fatal[0]; index++) {
        sigaction(fatal[index], &action, NULL);
        sigaddset(&unblock, fatal[index]);
    }
    /* A mask inherited from whatever started us may block them: a hangup held back would leave
       the process reading a terminal that is gone. */
    pthread_sigmask(SIG_UNBLOCK, &unblock, NULL);
    character_mode = mode;
    if (keep_signals) catch_stop();
    if (tcsetattr(fd, TCSAFLUSH, &mode) != 0) {
        saved_fd = -1;
        return -1;
    }
    return 0;
}

void ad_terminal_leave(void) {
    restore_now();
    saved_fd = -1;
    signal(SIGTSTP, SIG_DFL);
}

int ad_terminal_size(int fd, int *rows, int *columns) {
    struct winsize size;
    if (ioctl(fd, TIOCGWINSZ, &size) != 0) return -1;
    *rows = size.ws_row;
    *columns = size.ws_col;
    return 0;
}

static void record_resize(int signal_number) {
    (void)signal_number;
    resized = 1;
}

void ad_terminal_watch_resize(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = record_resize;
    sigemptyset(&action.sa_mask);
    /* No SA_RESTART: a key wait ends at once and the view is drawn at the new size. */
    sigaction(SIGWINCH, &action, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGWINCH);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

int ad_terminal_take_resize(void) {
    int was = resized;
    resized = 0;
    return was;
}
