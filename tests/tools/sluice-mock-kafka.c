/* sluice-mock-kafka - a Kafka cluster in one process, for trying sluice
 * without a broker.  It is librdkafka's mock cluster: it speaks the Kafka
 * protocol over TCP, with consumer groups, offset commits and fetches, and
 * keeps everything in memory (at most 5 MiB per partition, older records are
 * dropped).
 *
 *   sluice-mock-kafka [--brokers N] [--ignore-stdin] --topic NAME:PARTITIONS ...
 *
 * Prints "bootstrap=HOST:PORT,..." on stdout once the topics exist, then runs
 * until SIGTERM or SIGINT, or until its standard input reaches end of file
 * (so that it ends with the shell or pipe that started it) unless
 * --ignore-stdin is given.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define CTX "sluice-mock-kafka"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sluice-mock-kafka [--brokers N] [--ignore-stdin] --topic NAME:PARTITIONS ...\n"
            "\n"
            "Runs an in-memory Kafka cluster (librdkafka's mock cluster), creates the\n"
            "topics, prints bootstrap=HOST:PORT and serves until SIGTERM/SIGINT or end\n"
            "of standard input.\n"
            "\n"
            "  -t, --topic NAME:PARTITIONS  create a topic (repeatable; PARTITIONS defaults to 1)\n"
            "  -b, --brokers N              number of brokers (default 1)\n"
            "  -i, --ignore-stdin           do not stop at end of standard input\n"
            "  -h, --help                   this help\n");
}

typedef struct topic_arg {
    char *name;
    int partitions;
} topic_arg;

static int parse_topic(const char *arg, topic_arg *out)
{
    const char *colon = strrchr(arg, ':');
    size_t len = colon ? (size_t)(colon - arg) : strlen(arg);
    if (len == 0)
        return -1;
    out->partitions = 1;
    if (colon) {
        char *end;
        long n = strtol(colon + 1, &end, 10);
        if (*end || n < 1 || n > 10000)
            return -1;
        out->partitions = (int)n;
    }
    out->name = strndup(arg, len);
    return out->name ? 0 : -1;
}

/* Serve until a signal arrives or (unless @ignore_stdin) stdin ends. */
static void serve(bool ignore_stdin)
{
    char buf[4096];
    while (!stop_requested) {
        if (ignore_stdin) {
            pause();
            continue;
        }
        struct pollfd p = {.fd = 0, .events = POLLIN};
        int r = poll(&p, 1, 500);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        if (r > 0) {
            ssize_t n = read(0, buf, sizeof(buf));
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
                break;
        }
    }
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"topic", required_argument, NULL, 't'},
        {"brokers", required_argument, NULL, 'b'},
        {"ignore-stdin", no_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    topic_arg *topics = calloc((size_t)argc, sizeof(*topics));
    int ntopics = 0, brokers = 1, opt, rc = 1;
    bool ignore_stdin = false;
    char errstr[512];
    rd_kafka_t *rk = NULL;
    rd_kafka_mock_cluster_t *mc = NULL;

    if (!topics)
        return 1;
    while ((opt = getopt_long(argc, argv, "t:b:ih", longopts, NULL)) != -1) {
        switch (opt) {
        case 't':
            if (parse_topic(optarg, &topics[ntopics]) != 0) {
                fprintf(stderr, "%s: --topic %s: expected NAME:PARTITIONS\n", CTX, optarg);
                goto out;
            }
            ntopics++;
            break;
        case 'b':
            brokers = atoi(optarg);
            if (brokers < 1 || brokers > 16) {
                fprintf(stderr, "%s: --brokers %s: expected 1 to 16\n", CTX, optarg);
                goto out;
            }
            break;
        case 'i':
            ignore_stdin = true;
            break;
        case 'h':
            usage(stdout);
            rc = 0;
            goto out;
        default:
            usage(stderr);
            rc = 2;
            goto out;
        }
    }
    if (optind != argc) {
        usage(stderr);
        rc = 2;
        goto out;
    }

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "%s: %s\n", CTX, errstr);
        rd_kafka_conf_destroy(conf);
        goto out;
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "%s: %s\n", CTX, errstr);
        goto out;
    }
    mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mc) {
        fprintf(stderr, "%s: could not start the mock cluster\n", CTX);
        goto out;
    }
    for (int i = 0; i < ntopics; i++) {
        rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, topics[i].name, topics[i].partitions, 1);
        if (e) {
            fprintf(stderr, "%s: topic %s: %s\n", CTX, topics[i].name, rd_kafka_err2str(e));
            goto out;
        }
        fprintf(stderr, "%s: topic %s with %d partition(s)\n", CTX, topics[i].name, topics[i].partitions);
    }
    printf("bootstrap=%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);

    serve(ignore_stdin);
    fprintf(stderr, "%s: stopping\n", CTX);
    rc = 0;

out:
    if (mc)
        rd_kafka_mock_cluster_destroy(mc);
    if (rk)
        rd_kafka_destroy(rk);
    for (int i = 0; i < ntopics; i++)
        free(topics[i].name);
    free(topics);
    return rc;
}
