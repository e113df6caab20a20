/* harness.c - integration-test helpers around the real servers (see harness.h). */
#include "tests/support/harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

const char *th_env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr, "harness: %s is not set; run integration tests through tests/run\n", name);
        exit(1);
    }
    return v;
}

char *th_unique_name(const char *prefix, char *buf, size_t len)
{
    static unsigned counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, len, "%s_%d_%u_%lx", prefix, (int)getpid(), ++counter,
             (unsigned long)(ts.tv_nsec ^ (ts.tv_sec << 20)) & 0xffffff);
    return buf;
}

int th_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(sa.sin_port);
}

const char *th_admin_conninfo(void)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "host=%s port=%s user=%s dbname=postgres", th_env("EKKLESIA_TEST_PGHOST"),
             th_env("EKKLESIA_TEST_PGPORT"), th_env("EKKLESIA_TEST_PGUSER"));
    return buf;
}

int th_sql(const char *conninfo, const char *sql)
{
    PGconn *c = PQconnectdb(conninfo);
    int rc = -1;
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "harness: connect: %s", PQerrorMessage(c));
    } else {
        PGresult *r = PQexec(c, sql);
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
            rc = 0;
        else
            fprintf(stderr, "harness: SQL failed: %s", PQerrorMessage(c));
        PQclear(r);
    }
    PQfinish(c);
    return rc;
}

char *th_sql_value(const char *conninfo, const char *sql)
{
    PGconn *c = PQconnectdb(conninfo);
    char *out = NULL;
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
            out = strdup(PQgetvalue(r, 0, 0));
        else if (PQresultStatus(r) != PGRES_TUPLES_OK)
            fprintf(stderr, "harness: query failed: %s", PQerrorMessage(c));
        PQclear(r);
    } else {
        fprintf(stderr, "harness: connect: %s", PQerrorMessage(c));
    }
    PQfinish(c);
    return out;
}

int th_create_database(const char *name, char *conninfo, size_t len)
{
    char sql[256];
    snprintf(sql, sizeof sql, "CREATE DATABASE \"%s\"", name);
    if (th_sql(th_admin_conninfo(), sql) != 0)
        return -1;
    snprintf(conninfo, len, "host=%s port=%s user=%s dbname=%s", th_env("EKKLESIA_TEST_PGHOST"),
             th_env("EKKLESIA_TEST_PGPORT"), th_env("EKKLESIA_TEST_PGUSER"), name);
    return 0;
}

pid_t th_spawn(const char *const *argv, const char *const *extra_env, const char *logfile)
{
    char path[1024];
    if (strchr(argv[0], '/'))
        snprintf(path, sizeof path, "%s", argv[0]);
    else
        snprintf(path, sizeof path, "%s/%s", th_env("EKKLESIA_TEST_BIN"), argv[0]);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (logfile) {
            int fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
                close(fd);
            }
        }
        for (const char *const *e = extra_env; e && *e; e++)
            putenv((char *)*e);
        execv(path, (char *const *)argv);
        fprintf(stderr, "harness: cannot run %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    return pid;
}

int th_run(const char *const *argv, const char *const *extra_env, char **out, int timeout_ms)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/run-out-%d.XXXXXX", th_env("EKKLESIA_TEST_TMPDIR"), (int)getpid());
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd, 1);
        close(fd);
        for (const char *const *e = extra_env; e && *e; e++)
            putenv((char *)*e);
        char prog[1024];
        if (strchr(argv[0], '/'))
            snprintf(prog, sizeof prog, "%s", argv[0]);
        else
            snprintf(prog, sizeof prog, "%s/%s", th_env("EKKLESIA_TEST_BIN"), argv[0]);
        execv(prog, (char *const *)argv);
        _exit(127);
    }
    close(fd);
    int st = -1, rc = -1;
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            break;
        }
        struct timespec ts = { 0, 10 * 1000000 };
        nanosleep(&ts, NULL);
    }
    if (rc == -1 && waitpid(pid, &st, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    if (out) {
        FILE *f = fopen(path, "r");
        *out = NULL;
        if (f) {
            fseek(f, 0, SEEK_END);
            long len = ftell(f);
            rewind(f);
            *out = malloc((size_t)len + 1);
            size_t got = fread(*out, 1, (size_t)len, f);
            (*out)[got] = '\0';
            fclose(f);
        }
    }
    unlink(path);
    return rc;
}

bool th_exited(pid_t pid, int *status)
{
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) {
        if (status)
            *status = st;
        return true;
    }
    return r < 0; /* not our child any more */
}

int th_stop(pid_t pid, int sig, int timeout_ms)
{
    if (pid <= 0)
        return -1;
    kill(pid, sig);
    int st = 0;
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return st;
        struct timespec ts = { 0, 10 * 1000000 };
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

bool th_file_has(const char *path, const char *text)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        found = strstr(line, text) != NULL;
    if (f)
        fclose(f);
    return found;
}

bool th_tcp_established(int port)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    char line[512];
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f)) {
        unsigned rport, state; /* "sl: local_address rem_address st ...", addresses HEX:PORT */
        if (sscanf(line, " %*d: %*x:%*x %*x:%x %x", &rport, &state) == 2)
            found = (int)rport == port && state == 1; /* TCP_ESTABLISHED */
    }
    if (f)
        fclose(f);
    return found;
}

bool th_wait_until(bool (*cond)(void *ud), void *ud, int timeout_ms)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        if (cond(ud))
            return true;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (elapsed >= timeout_ms)
            return false;
        struct timespec ts = { 0, 20 * 1000000 };
        nanosleep(&ts, NULL);
    }
}

static int th_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
        return fd;
    if (fd >= 0)
        close(fd);
    return -1;
}

static bool th_port_open(void *ud)
{
    int fd = th_connect(*(int *)ud);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

bool th_wait_port(int port, int timeout_ms) { return th_wait_until(th_port_open, &port, timeout_ms); }

int th_http(const char *method, int port, const char *path, const char *body, char **resp)
{
    if (resp)
        *resp = NULL;
    int fd = th_connect(port);
    if (fd < 0)
        return -1;
    size_t blen = body ? strlen(body) : 0;
    char head[1024];
    int hl = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                      method, path, port, blen);
    if (write(fd, head, (size_t)hl) != hl || (blen && write(fd, body, blen) != (ssize_t)blen)) {
        close(fd);
        return -1;
    }
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    ssize_t n;
    while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
        len += (size_t)n;
        if (cap - len < 1024) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    close(fd);
    buf[len] = '\0';
    int status = -1;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1) {
        free(buf);
        return -1;
    }
    char *sep = strstr(buf, "\r\n\r\n");
    if (resp && sep) {
        sep += 4;
        /* chunked bodies are de-chunked here so tests see the plain body */
        if (strcasestr(buf, "Transfer-Encoding: chunked")) {
            char *out = malloc(strlen(sep) + 1), *w = out, *r = sep;
            for (;;) {
                unsigned long sz = strtoul(r, &r, 16);
                r = strstr(r, "\r\n");
                if (!r || sz == 0)
                    break;
                r += 2;
                memcpy(w, r, sz);
                w += sz;
                r += sz + 2;
            }
            *w = '\0';
            *resp = out;
        } else {
            *resp = strdup(sep);
        }
    }
    free(buf);
    return status;
}

pid_t th_start_emulator(int *port, const char *const *extra_args)
{
    *port = th_free_port();
    char portbuf[16];
    snprintf(portbuf, sizeof portbuf, "%d", *port);
    const char *argv[32] = { "firestore-emulator", "--host", "127.0.0.1", "--port", portbuf };
    int n = 5;
    for (const char *const *a = extra_args; a && *a && n < 31; a++)
        argv[n++] = *a;
    argv[n] = NULL;
    char log[1024];
    snprintf(log, sizeof log, "%s/emulator-%d.log", th_env("EKKLESIA_TEST_TMPDIR"), *port);
    pid_t pid = th_spawn(argv, NULL, log);
    if (pid > 0 && !th_wait_port(*port, 10000)) {
        th_stop(pid, SIGKILL, 1000);
        return -1;
    }
    return pid;
}
