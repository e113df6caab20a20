/* cli.c - the services' shared command line (see cli.h). */
#include "common/cli.h"

#include <getopt.h>

#include "common/log.h"

volatile sig_atomic_t cli_stop;

static void cli_on_signal(int sig)
{
    (void)sig;
    cli_stop = 1;
}

void cli_catch_stop_signals(void)
{
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
