/* cli.c - the services' shared command line (see cli.h). */
#include "common/cli.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <semaphore.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

volatile sig_atomic_t cli_stop;
static struct timespec cli_stop_at; /* CLOCK_MONOTONIC at the first stop signal */
static sem_t cli_stop_sem;          /* posted with the first stop signal */

static void cli_on_signal(int sig)
{
    (void)sig;
    if (!cli_stop) {
        clock_gettime(CLOCK_MONOTONIC, &cli_stop_at); /* both async-signal-safe */
        sem_post(&cli_stop_sem);
    }
    cli_stop = 1;
}

typedef struct cli_watchdog {
    struct timespec deadline;
    int budget_s;
    const char *what;
} cli_watchdog;

static void *cli_watch(void *arg)
{
    cli_watchdog *w = arg;
    if (w->deadline.tv_sec == 0) { /* armed before the stop: wait for its signal */
        while (sem_wait(&cli_stop_sem) != 0)
            ; /* EINTR */
        w->deadline = cli_stop_at;
        w->deadline.tv_sec += w->budget_s;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &w->deadline, NULL) == EINTR)
        ; /* interrupted by a signal: sleep on */
    log_warn("stopping took over %d s: exiting without %s", w->budget_s, w->what);
    _exit(0);
}

void cli_stop_within(int budget_s, const char *what)
{
    static cli_watchdog w;
    w.deadline = (struct timespec){ 0 };
    if (cli_stop) {
        clock_gettime(CLOCK_MONOTONIC, &w.deadline);
        if (cli_stop_at.tv_sec)
            w.deadline = cli_stop_at;
        w.deadline.tv_sec += budget_s;
    }
    w.budget_s = budget_s;
    w.what = what;
    pthread_t t;
    if (pthread_create(&t, NULL, cli_watch, &w) == 0)
        pthread_detach(t);
}

void cli_catch_stop_signals(void)
{
    sem_init(&cli_stop_sem, 0, 0);
    struct sigaction sa = { .sa_handler = cli_on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int cli_start(int argc, char **argv, const char *service, void (*usage)(FILE *out), const char **path)
{
    static const struct option opts[] = { { "config", required_argument, NULL, 'c' },
                                          { "help", no_argument, NULL, 'h' },
                                          { NULL, 0, NULL, 0 } };
    int o;
    *path = NULL;
    while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        if (o == 'c') {
            *path = optarg;
        } else if (o == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    log_init(service);
    return -1;
}
