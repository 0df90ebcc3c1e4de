/* main.c - the sluice command line. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/app.h"
#include "sluice/config.h"
#include "sluice/import_connect.h"
#include "sluice/log.h"

static void usage(FILE *out)
{
    fputs("usage: sluice -c FILE             run: sink Kafka topics into SQL tables\n"
          "       sluice --check -c FILE     validate the file, connect to Kafka and every target,\n"
          "                                  check every routed table, print what was found;\n"
          "                                  with --offline only what needs no network\n"
          "       sluice status -c FILE [--json]\n"
          "                                  per partition: offset stored in the database, committed in\n"
          "                                  Kafka, high watermark, lag, the member holding it\n"
          "       sluice offsets -c FILE --route NAME --reset-to WHERE [--dry-run]\n"
          "                                  rewrite a route's stored offsets (the group must be stopped);\n"
          "                                  WHERE: earliest | latest | TIME (ISO-8601 or epoch ms) |\n"
          "                                  topic:partition:offset[,...]\n"
          "       sluice import-connect [--strict] CONNECTOR.json|.properties\n"
          "                                  translate a Kafka Connect JDBC sink configuration\n"
          "                                  (Confluent or Debezium) into sluice YAML on stdout\n"
          "       sluice --print-config -c FILE\n"
          "                                  print the effective configuration, defaults filled in,\n"
          "                                  secrets as ***\n"
          "       sluice --config-docs       print the configuration reference (Markdown)\n"
          "       sluice --version | --help\n"
          "options:\n"
          "  -c, --config FILE   configuration file (YAML or JSON)\n"
          "  -v, --verbose       debug logging\n",
          out);
}

/* The commands that are not the daemon stop on SIGTERM at once, as any
 * command-line tool; one that came already ends them now, cleanly. */
static void default_signals(void)
{
    if (sl_app_stop_signal())
        exit(0);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
}

int main(int argc, char **argv)
{
    /* before anything else: a SIGTERM from now on stops the daemon cleanly,
     * exit 0, whenever it comes (before the workers run: they never start) */
    sl_app_signals_init();
    const char *path = NULL, *route = NULL, *where = NULL;
    int check = 0, verbose = 0, dry_run = 0, offsets = 0, print_config = 0, offline = 0, status = 0, as_json = 0;
    if (argc > 1 && !strcmp(argv[1], "status")) {
        status = 1;
        argv[1] = argv[0];
        argv++;
        argc--;
    }
    if (argc > 1 && !strcmp(argv[1], "import-connect")) {
        int strict = 0;
        const char *file = NULL;
        for (int i = 2; i < argc; i++) {
            if (!strcmp(argv[i], "--strict"))
                strict = 1;
            else if (!file && argv[i][0] != '-')
                file = argv[i];
            else {
                fprintf(stderr, "sluice import-connect: unexpected argument '%s'\n", argv[i]);
                return 2;
            }
        }
        if (!file) {
            fprintf(stderr, "usage: sluice import-connect [--strict] CONNECTOR.json|CONNECTOR.properties\n");
            return 2;
        }
        default_signals();
        return sl_import_connect(file, strict, stdout, stderr);
    }
    if (argc > 1 && !strcmp(argv[1], "offsets")) {
        offsets = 1;
        argv[1] = argv[0];
        argv++;
        argc--;
    }
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"check", no_argument, NULL, 'k'},
        {"version", no_argument, NULL, 'V'},      {"help", no_argument, NULL, 'h'},
        {"verbose", no_argument, NULL, 'v'},      {"config-docs", no_argument, NULL, 'D'},
        {"route", required_argument, NULL, 'r'},  {"reset-to", required_argument, NULL, 't'},
        {"dry-run", no_argument, NULL, 'n'},      {"print-config", no_argument, NULL, 'P'},
        {"offline", no_argument, NULL, 'O'},      {"json", no_argument, NULL, 'J'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': path = optarg; break;
        case 'k': check = 1; break;
        case 'v': verbose = 1; break;
        case 'r': route = optarg; break;
        case 't': where = optarg; break;
        case 'n': dry_run = 1; break;
        case 'P': print_config = 1; break;
        case 'O': offline = 1; break;
        case 'J': as_json = 1; break;
        case 'V': printf("sluice %s\n", SLUICE_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        case 'D': sl_config_write_docs(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sluice: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!path) {
        fprintf(stderr, "sluice: no configuration file: use -c FILE\n");
        usage(stderr);
        return 2;
    }
    if (offsets && (!route || !where)) {
        fprintf(stderr, "sluice offsets: --route and --reset-to are required\n");
        return 2;
    }
    sl_error err;
    sl_config *cfg = sl_config_load(path, &err);
    if (!cfg) {
        fprintf(stderr, "sluice: %s\n", err.msg);
        return 1;
    }
    if (print_config) {
        sl_config_print(cfg, stdout);
        sl_config_free(cfg);
        return 0;
    }
    if (cfg->log_level)
        sl_log_level = (sl_loglevel)sl_log_parse_level(cfg->log_level);
    if (status)
        sl_log_level = SL_LOG_WARN; /* the table is the output */
    if (verbose)
        sl_log_level = SL_LOG_DEBUG;
    if (sl_app_stop_signal()) {
        fprintf(stderr, "sluice: signal %d during start-up; exiting\n", sl_app_stop_signal());
        sl_config_free(cfg);
        return 0;
    }
    if (check || status || offsets)
        default_signals();
    int rc;
    if (check && offline)
        rc = sl_app_check_offline(cfg);
    else if (check)
        rc = sl_app_check(cfg);
    else if (status)
        rc = sl_app_status(cfg, as_json);
    else if (offsets)
        rc = sl_app_offsets(cfg, route, where, dry_run);
    else
        rc = sl_app_run(cfg);
    sl_config_free(cfg);
    return rc;
}
