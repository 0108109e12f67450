/*
 * The practical limit: a minimal single-threaded epoll echo server (TCP and
 * UDP on one port), written for the benchmark baseline.
 *
 *   epoll_echo_server PORT [ADDR] [rearm]
 *
 * "rearm" is a diagnostic: after each echo it re-arms the descriptor with
 * epoll_ctl(EPOLL_CTL_MOD), the one system call per message that
 * echo-server's Asio reactor adds (async_wait re-arms). Comparing the two
 * shows what that call costs.
 *
 * Level-triggered epoll; a TCP read is written straight back; if the peer
 * is slow, the rest waits in a per-connection buffer and reading pauses
 * (EPOLLOUT instead of EPOLLIN), as in echo-server. TCP_NODELAY like
 * echo-server. Prints "listening PORT" once ready. No limits, no logging.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { BUFFER_SIZE = 64 * 1024, MAX_EVENTS = 256 };

struct connection {
  int fd;
  char *pending; /* unsent echo, when the peer is slow to read */
  size_t pending_len, pending_off;
};

static int epfd;
static int rearm;
static char buffer[BUFFER_SIZE];

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void close_connection(struct connection *c) {
  close(c->fd);
  free(c->pending);
  free(c);
}

static void watch(struct connection *c, int op, unsigned events) {
  struct epoll_event ev = {.events = events, .data.ptr = c};
  if (epoll_ctl(epfd, op, c->fd, &ev) < 0) die("epoll_ctl");
}

/* Returns 0 when the connection is done with. */
static int on_writable(struct connection *c) {
  while (c->pending_off < c->pending_len) {
    ssize_t n = send(c->fd, c->pending + c->pending_off, c->pending_len - c->pending_off, MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN ? 1 : 0;
    c->pending_off += (size_t)n;
  }
  c->pending_len = c->pending_off = 0;
  watch(c, EPOLL_CTL_MOD, EPOLLIN);
  return 1;
}

static int on_readable(struct connection *c) {
  ssize_t n = read(c->fd, buffer, sizeof buffer);
  if (n == 0) return 0;
  if (n < 0) return errno == EAGAIN ? 1 : 0;
  ssize_t sent = send(c->fd, buffer, (size_t)n, MSG_NOSIGNAL);
  if (sent < 0) {
    if (errno != EAGAIN) return 0;
    sent = 0;
  }
  if (sent < n) {
    if (!c->pending && !(c->pending = malloc(BUFFER_SIZE))) die("malloc");
    memcpy(c->pending, buffer + sent, (size_t)(n - sent));
    c->pending_len = (size_t)(n - sent);
    c->pending_off = 0;
    watch(c, EPOLL_CTL_MOD, EPOLLOUT);
  } else if (rearm) {
    watch(c, EPOLL_CTL_MOD, EPOLLIN);
  }
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s PORT [ADDR]\n", argv[0]);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
  inet_pton(AF_INET, argc > 2 ? argv[2] : "127.0.0.1", &addr.sin_addr);
  rearm = argc > 3 && strcmp(argv[3], "rearm") == 0;

  int one = 1;
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind tcp");
  if (listen(listener, SOMAXCONN) < 0) die("listen");
  socklen_t len = sizeof addr;
  getsockname(listener, (struct sockaddr *)&addr, &len);
  int udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (bind(udp, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind udp");

  epfd = epoll_create1(0);
  struct connection listen_tag = {.fd = listener}, udp_tag = {.fd = udp};
  watch(&listen_tag, EPOLL_CTL_ADD, EPOLLIN);
  watch(&udp_tag, EPOLL_CTL_ADD, EPOLLIN);
  printf("listening %d\n", ntohs(addr.sin_port));
  fflush(stdout);

  struct epoll_event events[MAX_EVENTS];
  for (;;) {
    int ready = epoll_wait(epfd, events, MAX_EVENTS, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < ready; ++i) {
      struct connection *c = events[i].data.ptr;
      if (c == &listen_tag) {
        int fd;
        while ((fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct connection *conn = calloc(1, sizeof *conn);
          if (!conn) die("calloc");
          conn->fd = fd;
          watch(conn, EPOLL_CTL_ADD, EPOLLIN);
        }
      } else if (c == &udp_tag) {
        for (;;) {
          struct sockaddr_storage peer;
          socklen_t peer_len = sizeof peer;
          ssize_t n = recvfrom(udp, buffer, sizeof buffer, 0, (struct sockaddr *)&peer, &peer_len);
          if (n < 0) break;
          sendto(udp, buffer, (size_t)n, 0, (struct sockaddr *)&peer, peer_len);
        }
      } else {
        int alive = (events[i].events & EPOLLOUT) ? on_writable(c) : on_readable(c);
        if (!alive || (events[i].events & (EPOLLERR))) close_connection(c);
      }
    }
  }
}
