/*
 * A minimal single-threaded epoll load generator, to check that
 * echo-client --bench is not the bottleneck: N TCP connections each keep
 * PIPELINE messages of SIZE bytes in flight for SECONDS; every echoed byte
 * is compared with what was sent (as echo-client does); prints one JSON
 * line with requests and req/s. No latency histogram.
 *
 *   epoll_load_generator HOST PORT CONNECTIONS SIZE SECONDS [PIPELINE]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { PATTERN_SHIFT = 251, READ_SIZE = 65536 };

struct connection {
  int fd;
  unsigned long long sent, received_bytes, completed;
};

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: %s HOST PORT CONNECTIONS SIZE SECONDS [PIPELINE]\n", argv[0]);
    return 2;
  }
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
  inet_pton(AF_INET, argv[1], &addr.sin_addr);
  int count = atoi(argv[3]);
  size_t size = (size_t)atol(argv[4]);
  double seconds = atof(argv[5]);
  unsigned long long pipeline = argc > 6 ? (unsigned long long)atoll(argv[6]) : 1;

  unsigned char *pattern = malloc(size + PATTERN_SHIFT);
  for (size_t i = 0; i < size + PATTERN_SHIFT; ++i) pattern[i] = (unsigned char)((i * 7 + i / 251) & 0xff);
  static unsigned char buffer[READ_SIZE];

  int epfd = epoll_create1(0);
  struct connection *conns = calloc((size_t)count, sizeof *conns);
  int one = 1;
  for (int i = 0; i < count; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
      perror("connect");
      return 1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conns[i].fd = fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[i]};
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
  }

  unsigned long long requests = 0, mismatches = 0;
  double start = now(), stop = start + seconds;
  for (int i = 0; i < count; ++i)
    for (; conns[i].sent < pipeline; ++conns[i].sent)
      if (write(conns[i].fd, pattern + conns[i].sent % PATTERN_SHIFT, size) != (ssize_t)size) return 1;

  struct epoll_event events[256];
  int running = 1;
  while (running) {
    int ready = epoll_wait(epfd, events, 256, 100);
    if (now() >= stop) running = 0;
    for (int e = 0; e < ready; ++e) {
      struct connection *c = events[e].data.ptr;
      ssize_t n = read(c->fd, buffer, sizeof buffer);
      if (n <= 0) {
        fprintf(stderr, "connection closed\n");
        return 1;
      }
      size_t done = 0;
      while (done < (size_t)n) {
        unsigned long long message = c->received_bytes / size;
        size_t offset = (size_t)(c->received_bytes % size);
        size_t take = (size_t)n - done < size - offset ? (size_t)n - done : size - offset;
        if (memcmp(buffer + done, pattern + message % PATTERN_SHIFT + offset, take) != 0) ++mismatches;
        c->received_bytes += take;
        done += take;
        if (offset + take == size) {
          ++c->completed;
          ++requests;
          if (running) {
            if (write(c->fd, pattern + c->sent % PATTERN_SHIFT, size) != (ssize_t)size) return 1;
            ++c->sent;
          }
        }
      }
    }
  }
  double elapsed = now() - start;
  printf("{\"requests\":%llu,\"req_per_s\":%.1f,\"mismatches\":%llu,\"seconds\":%.3f}\n", requests,
         (double)requests / elapsed, mismatches, elapsed);
  return mismatches ? 1 : 0;
}
