/* control_http.c - the soak's control for /healthz latency: the smallest
 * HTTP server, one thread that accepts a connection, reads the request's
 * head and answers "ok".  Asked by the same client at the same moment as a
 * daemon's /healthz, its latency is what the machine alone costs a request
 * then (run queues, the client's own scheduling); a /healthz much slower
 * than it waited on something in sluice (docs/soak.md).
 *
 *   control_http PORT   listen on 127.0.0.1:PORT */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1])),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int on = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 64)) {
        perror("control_http: listen");
        return 1;
    }
    static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
                                 "Connection: close\r\n\r\nok\n";
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0)
            continue;
        struct timeval tv = {.tv_sec = 2};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        char buf[4096] = "";
        size_t got = 0;
        ssize_t n;
        while (got < sizeof(buf) - 1 && (n = read(c, buf + got, sizeof(buf) - 1 - got)) > 0) {
            got += (size_t)n;
            buf[got] = '\0';
            if (strstr(buf, "\r\n\r\n"))
                break;
        }
        if (strstr(buf, "\r\n\r\n") && write(c, answer, sizeof(answer) - 1) < 0)
            perror("control_http: write");
        close(c);
    }
}
