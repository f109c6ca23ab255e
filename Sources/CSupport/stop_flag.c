#include "CSupport.h"
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

static atomic_int stop_signal = 0;

static void record_stop(int signo) { atomic_store(&stop_signal, signo); }

void csupport_install_stop_handlers(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = record_stop;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    const int signals[] = {SIGTERM, SIGINT, SIGUSR1, SIGUSR2};
    for (unsigned i = 0; i < sizeof signals / sizeof signals[0]; i++) sigaction(signals[i], &action, NULL);
}

int csupport_stop_requested(void) { return atomic_load(&stop_signal); }

void csupport_clear_stop_request(void) { atomic_store(&stop_signal, 0); }
