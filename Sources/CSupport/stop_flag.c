#include "CSupport.h"
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

static atomic_int stop_signal = 0;
static const char *_Atomic announcement = NULL;

// Only async-signal-safe calls here: an atomic store, and write(2) of text prepared beforehand.
static void record_stop(int signo) {
    int previous = atomic_exchange(&stop_signal, signo);
    const char *text = atomic_load(&announcement);
    if (previous == 0 && text) {
        ssize_t ignored = write(STDOUT_FILENO, text, strlen(text));
        (void)ignored;
    }
}

// Open MPI's mpirun (and orted) end a job, e.g. on Ctrl-C, by sending each rank SIGCONT, then SIGTERM
// odls_base_sigkill_timeout seconds later, then SIGKILL as long again (odls_base_default_fns.c). A SIGCONT
// from the parent is that sequence starting: taken as a stop request, it gives the ranks both intervals to
// finish the step and write the checkpoint. A SIGCONT from anyone else (a resumed SIGSTOP) changes nothing.
static void on_continue(int signo, siginfo_t *info, void *context) {
    (void)signo;
    (void)context;
    if (info && info->si_code == SI_USER && info->si_pid == getppid() && getppid() != 1) record_stop(SIGTERM);
}

void csupport_install_stop_handlers(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = record_stop;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    const int signals[] = {SIGTERM, SIGINT, SIGUSR1, SIGUSR2};
    for (unsigned i = 0; i < sizeof signals / sizeof signals[0]; i++) sigaction(signals[i], &action, NULL);
    struct sigaction continued;
    memset(&continued, 0, sizeof continued);
    continued.sa_sigaction = on_continue;
    sigemptyset(&continued.sa_mask);
    continued.sa_flags = SA_RESTART | SA_SIGINFO;
    sigaction(SIGCONT, &continued, NULL);
}

void csupport_announce_stop_requests(const char *text) { atomic_store(&announcement, text); }

int csupport_stop_requested(void) { return atomic_load(&stop_signal); }

void csupport_clear_stop_request(void) { atomic_store(&stop_signal, 0); }
