/* broker.h - a private Apache Kafka cluster for one fault test, started by
 * tests/support/kafka.sh in a new directory so that the test may kill and restart
 * its brokers.  Like faults.h, every helper fails the current Check test on
 * error and is called inside a test function. */
#ifndef SLUICE_TEST_BROKER_H
#define SLUICE_TEST_BROKER_H

#include <stdbool.h>
#include <stdint.h>

/**
 * fb_start() - start @nbrokers brokers (tests/support/kafka.sh start DIR --brokers N
 * @extra) and point SLUICE_TEST_BOOTSTRAP at them, so that ts_kafka_start()
 * uses them.  Return: the cluster's directory, owned by the caller.
 */
char *fb_start(int nbrokers, const char *extra);

/** fb_kill() - SIGKILL broker @i (1-based). */
void fb_kill(const char *dir, int i);

/** fb_restart() - start broker @i again on its ports and data; returns once
 * it answers metadata requests. */
void fb_restart(const char *dir, int i);

/** fb_stop() - stop every broker of @dir, remove it and free @dir. */
void fb_stop(char *dir);

/** fb_address() - "127.0.0.1:PORT" of broker @i (static buffer). */
const char *fb_address(const char *dir, int i);

/**
 * fb_producer_start() - a thread producing {"seq":N} (N = 0, 1, ...) to
 * @topic at @per_second records a second, round robin over @partitions,
 * through ts_produce(), until fb_producer_stop().
 */
typedef struct fb_producer fb_producer;
fb_producer *fb_producer_start(const char *topic, int partitions, int per_second);
/** fb_producer_stop() - stop the thread, flush, free; returns how many
 * records it produced (all of them acknowledged). */
int64_t fb_producer_stop(fb_producer *p);
/** fb_producer_count() - records queued so far. */
int64_t fb_producer_count(fb_producer *p);

/** fb_controller() - the node id of the active controller of @dir. */
int fb_controller(const char *dir);

/** fb_leader() - the broker (node id) leading @topic[@partition], -1 none. */
int fb_leader(const char *topic, int partition);

/**
 * fb_create_topic() - create @topic with @partitions partitions and @rf
 * replicas through the Admin API, with the NULL-terminated "key=value" topic
 * configurations after @rf; returns once every partition has a leader.
 */
void fb_create_topic(const char *topic, int partitions, int rf, ...);

/** fb_available() - false (with the reason printed) when this machine
 * cannot run a broker: no java, mvn or kcat. */
bool fb_available(void);

#endif
