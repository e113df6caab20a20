/* snapshot.c - memberctl snapshot: a fresh snapshot of the published tables into the
 * pipeline's topics (backfill, or after a mapping change), while the running producer
 * keeps streaming. It runs member-producer once with snapshot.mode = initial_only on a
 * temporary slot of its own: the rows are read in that slot's exported snapshot and
 * positioned at its consistent point, so the consumer orders them correctly against
 * the stream (older changes lose to them, newer ones win), and the temporary slot is
 * dropped at the end so it holds no WAL. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tools/memberctl/ctl.h"

static void snapshot_usage(FILE *out)
{
    fprintf(out, "usage: memberctl snapshot [--tables SCHEMA.TABLE,...] [--producer-config FILE] [--execute]\n"
                 "  Reads the published tables (or those named) in a new consistent snapshot and sends every\n"
                 "  row as an op \"r\" event, beside the running producer. Without --execute, says what it would do.\n");
}

/* member-producer beside this memberctl, else the one on PATH. */
static void producer_path(char *buf, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = 0;
        snprintf(buf, len, "%s/member-producer", dirname(self));
        if (access(buf, X_OK) == 0)
            return;
    }
    snprintf(buf, len, "member-producer");
}

int ctl_snapshot(ctl_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = { { "tables", required_argument, NULL, 't' },
                                          { "producer-config", required_argument, NULL, 'p' },
                                          { "execute", no_argument, NULL, 'x' },
                                          { "help", no_argument, NULL, 'h' },
                                          { NULL, 0, NULL, 0 } };
    const char *tables = NULL, *config = NULL;
    bool execute = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 't': tables = optarg; break;
        case 'p': config = optarg; break;
        case 'x': execute = true; break;
        case 'h': snapshot_usage(stdout); return CTL_OK;
        default: snapshot_usage(stderr); return CTL_USAGE;
        }
    }
    if (optind != argc) {
        snapshot_usage(stderr);
        return CTL_USAGE;
    }
    char slot[128], prog[PATH_MAX + 32];
    snprintf(slot, sizeof slot, "%.40s_snapshot_%lld", ctx->slot_name, (long long)time(NULL));
    producer_path(prog, sizeof prog);
    printf("%s a snapshot of %s into the topics %s.<schema>.<table>, through the temporary slot %s\n",
           execute ? "taking" : "would take (add --execute)", tables ? tables : "every published table",
           ctx->topic_prefix, slot);
    fflush(stdout);
    if (!execute)
        return CTL_OK;
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "memberctl: fork: %s\n", strerror(errno));
        return CTL_FAIL;
    }
    if (pid == 0) {
        setenv("EKKLESIA_SNAPSHOT_MODE", "initial_only", 1);
        setenv("EKKLESIA_POSTGRES_SLOT_NAME", slot, 1);
        setenv("EKKLESIA_HTTP_PORT", "0", 1); /* no ops endpoint for a one-off run */
        /* the running producer's publication is left as it is: "filtered" would alter it
         * to exactly the tables of this snapshot, and the stream would lose the others */
        setenv("EKKLESIA_POSTGRES_PUBLICATION_AUTOCREATE", "disabled", 1);
        if (tables)
            setenv("EKKLESIA_POSTGRES_TABLES", tables, 1);
        if (!config) { /* no producer file: the pipeline's settings as memberctl has them */
            setenv("EKKLESIA_KAFKA_TOPIC_PREFIX", ctx->topic_prefix, 1);
            if (ctx->pg_conninfo && *ctx->pg_conninfo)
                setenv("EKKLESIA_POSTGRES_CONNINFO", ctx->pg_conninfo, 1);
            execl(prog, "member-producer", (char *)NULL);
            execlp(prog, "member-producer", (char *)NULL);
        } else {
            execl(prog, "member-producer", "-c", config, (char *)NULL);
            execlp(prog, "member-producer", "-c", config, (char *)NULL);
        }
        fprintf(stderr, "memberctl: cannot run %s: %s\n", prog, strerror(errno));
        _exit(CTL_FAIL);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        printf("snapshot done; the temporary slot %s was dropped\n", slot);
        return CTL_OK;
    }
    fprintf(stderr, "memberctl: the snapshot failed (member-producer exit %d); see its log above. The temporary "
                    "slot %s went with its connection; run the snapshot again\n",
            WIFEXITED(st) ? WEXITSTATUS(st) : -1, slot);
    return WIFEXITED(st) && WEXITSTATUS(st) == CTL_USAGE ? CTL_USAGE : CTL_FAIL;
}
