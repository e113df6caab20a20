/* cli.h - the command line every service shares: [-c FILE] [-h]. */
#ifndef COMMON_CLI_H
#define COMMON_CLI_H

#include <signal.h>
#include <stdio.h>

/* Set to 1 by SIGTERM and SIGINT once cli_catch_stop_signals() has run. */
extern volatile sig_atomic_t cli_stop;
/* SIGTERM and SIGINT set cli_stop (a clean stop); SIGPIPE is ignored. */
void cli_catch_stop_signals(void);
/* Bounds a clean stop: if the process is still running budget_s seconds after the stop
 * signal (say, Kafka went away and a final commit waits for it), logs why as a warning
 * (what: what was not finished) and exits with status 0, as an orchestrator expects of a
 * stop it asked for. Called before the stop (after cli_catch_stop_signals), it waits
 * for the signal, so that the budget holds however long the work in hand takes;
 * called after it, it counts from the signal too. Once per process. */
void cli_stop_within(int budget_s, const char *what);

/* Parses -c/--config FILE and -h/--help, then starts the service's logs (log.h).
 * Returns -1 to go on (with *path set or NULL), or the exit status: 0 after printing
 * the help, 2 on a usage error. */
int cli_start(int argc, char **argv, const char *service, void (*usage)(FILE *out), const char **path);

#endif
