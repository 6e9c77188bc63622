#include "CPlatform.h"

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
}

int ad_cancel_signal(void) { return requested; }
