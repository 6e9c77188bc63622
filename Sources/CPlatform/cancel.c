#include "CPlatform.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>

static volatile sig_atomic_t requested = 0;

static void record(int signal_number) { requested = signal_number; }

void ad_install_cancel_handlers(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = record;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    /* A mask inherited from whatever started us may block them: they must get through. */
    sigset_t cancel;
    sigemptyset(&cancel);
    sigaddset(&cancel, SIGINT);
    sigaddset(&cancel, SIGTERM);
    pthread_sigmask(SIG_UNBLOCK, &cancel, NULL);
}

int ad_cancel_signal(void) { return requested; }

void ad_cancel_request(int signal_number) { requested = signal_number; }
