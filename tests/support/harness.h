/* harness.h - what integration tests need around the real servers.
 *
 * tests/run starts one PostgreSQL and one Kafka broker per test run in a temporary
 * directory and passes them to every integration test through the environment:
 *   EKKLESIA_TEST_PGHOST, EKKLESIA_TEST_PGPORT, EKKLESIA_TEST_PGUSER   (a superuser)
 *   KAFKA_BOOTSTRAP_SERVERS
 *   EKKLESIA_TEST_TMPDIR   (a scratch directory for this run)
 *   EKKLESIA_TEST_BIN      (build/bin, the programs under test)
 * Tests share these servers, so each test makes its own names (th_unique_name) for
 * databases, slots, topics and consumer groups. Waiting is always for a condition
 * with a deadline (th_wait_until), never a fixed sleep. */
#ifndef TESTS_SUPPORT_HARNESS_H
#define TESTS_SUPPORT_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Value of a required environment variable; aborts the test run when missing. */
const char *th_env(const char *name);
/* "prefix_<pid>_<counter>_<random>", lower case, valid as a PG or Kafka name. */
char *th_unique_name(const char *prefix, char *buf, size_t len);
/* A TCP port on 127.0.0.1 that was free a moment ago. */
int th_free_port(void);

/* Creates a fresh database (wal_level=logical server) and returns a libpq conninfo
 * for it as the superuser, in buf. 0 on success. */
int th_create_database(const char *name, char *conninfo, size_t len);
/* conninfo for the server's postgres database. */
const char *th_admin_conninfo(void);
/* Runs SQL on conninfo; returns 0 on success (prints the error otherwise). */
int th_sql(const char *conninfo, const char *sql);
/* First column of the first row of a query, malloc'd; NULL on error or no row. */
char *th_sql_value(const char *conninfo, const char *sql);

/* Starts program (argv[0] is looked up in EKKLESIA_TEST_BIN when it has no '/'),
 * with extra environment "K=V" entries (NULL-terminated, may be NULL), stdout and
 * stderr appended to logfile (NULL: the test's stderr). Returns the pid or -1. */
pid_t th_spawn(const char *const *argv, const char *const *extra_env, const char *logfile);
/* Runs a program to completion (as th_spawn), capturing its stdout into *out
 * (malloc'd, may be NULL); stderr goes to the test's stderr. Returns the exit code,
 * or -1 when it did not exit normally within timeout_ms. */
int th_run(const char *const *argv, const char *const *extra_env, char **out, int timeout_ms);
/* Sends sig and waits up to timeout_ms for the exit; returns the exit status as
 * waitpid encodes it, or -1 when it did not exit (then it is SIGKILLed). */
int th_stop(pid_t pid, int sig, int timeout_ms);
/* True when pid has exited (reaps it); *status receives the waitpid status. */
bool th_exited(pid_t pid, int *status);

/* Whether a line of the file (a process's log) holds text. */
bool th_file_has(const char *path, const char *text);
/* Whether some local TCP connection to 127.0.0.1:port is established (a client of a
 * server the test runs has sent its first request). */
bool th_tcp_established(int port);

/* Polls cond every 20 ms until it returns true or timeout_ms passes. */
bool th_wait_until(bool (*cond)(void *ud), void *ud, int timeout_ms);
/* Waits until something accepts TCP connections on 127.0.0.1:port. */
bool th_wait_port(int port, int timeout_ms);

/* An HTTP GET/POST to 127.0.0.1:port; returns the status (or -1) and the body
 * (malloc'd, may be NULL). */
int th_http(const char *method, int port, const char *path, const char *body, char **resp);

/* Starts build/bin/firestore-emulator on a free port; returns its pid, port in *port. */
pid_t th_start_emulator(int *port, const char *const *extra_args);

#endif
