// The benchmark's load generator, in C so that it is never the bottleneck:
// one thread, epoll, pipelined closed loop. bench/index.ts compiles it with
// the system C compiler (cc -O2) into a cache folder and runs it pinned to a
// CPU of its own, apart from the server under test.
//
//   loadgen tcp    PORT CONNS INFLIGHT SIZE WARMUP_MS MEASURE_MS SERVER_PID [BUCKET_MS]
//   loadgen udp    PORT SOCKETS INFLIGHT SIZE WARMUP_MS MEASURE_MS SERVER_PID
//   loadgen accept PORT COUNT CONCURRENCY TIMEOUT_MS SERVER_PID
//   loadgen probe  TCP_PORT UDP_PORT
//   loadgen scrape HTTP_PORT INTERVAL_MS MAX_MS
//   loadgen burn   MS
//
// Frames are enet's TCP tlv-be ([msgId u32 BE][len u32 BE][data]) and UDP
// enet ([msgId u32 BE][data]), msgId 1, the echo route of both servers. The
// first 8 bytes of data carry the send time (ns), so latency needs no
// bookkeeping per request, and the rest a pattern checked on every reply.
// Each read's replies are counted and answered with as many new requests in
// one write: the load keeps INFLIGHT requests per connection in flight.
//
// Output: one JSON line on stdout. SERVER_PID's CPU time (utime + stime from
// /proc/PID/stat, all its threads) is read at the start and the end of the
// measurement window, and so is this process's own, so the orchestrator can
// tell whether the server or the load was the limit.
//
// With BUCKET_MS, tcp also counts the replies of the window per BUCKET_MS
// (bench/reload-run.ts: the throughput dip while a plugin reloads), and says
// when the window starts, a line {"measuring":"NS"} on CLOCK_MONOTONIC
// (process.hrtime's clock), before the result.
//
// accept: opens COUNT connections, at most CONCURRENCY connecting at once,
// each doing one echo round trip; prints the time, then holds them until a
// line (or EOF) arrives on stdin, then resets them (SO_LINGER 0: no
// TIME_WAIT left to exhaust the ephemeral ports of later rounds).
//
// scrape: what Prometheus does to enet's HTTP listener (bench --metrics):
// GET /metrics every INTERVAL_MS on one keep-alive connection, until a line
// (or EOF) arrives on stdin or MAX_MS have passed; prints the scrapes, the
// bytes, the slowest answer and the failures.
// burn: a busy loop for MS milliseconds, then exit. The reload bench runs it
// on the load's CPU at nice 19 as a control: what CPU work that is not the
// server's costs the server on this machine (2 vCPUs may share a core).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG_ID 1
#define MAX_LAT_US 2000000
#define MAX_ERRORS 8

static uint32_t *hist;
static uint64_t hist_n;
static char errors[MAX_ERRORS][160];
static int nerrors;

static void note(const char *fmt, const char *what, int err) {
  if (nerrors >= MAX_ERRORS) return;
  snprintf(errors[nerrors++], sizeof errors[0], fmt, what, strerror(err));
}

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void put32(unsigned char *p, uint32_t v) {
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}
static uint32_t get32(const unsigned char *p) { return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3]; }

/** CPU seconds (user + system) of a process, all threads; -1 when unreadable. */
static double proc_cpu(int pid) {
  if (pid <= 0) return -1;
  char path[64], buf[2048];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  // The command name may hold spaces: fields count from after its ')'.
  char *p = strrchr(buf, ')');
  if (!p) return -1;
  unsigned long utime = 0, stime = 0;
  // state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15)
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) return -1;
  return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu(void) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
}

static void record(uint64_t sent, uint64_t now) {
  uint64_t us = now > sent ? (now - sent) / 1000 : 0;
  if (us >= MAX_LAT_US) us = MAX_LAT_US - 1;
  hist[us]++;
  hist_n++;
}

static uint64_t pct(double p) {
  if (hist_n == 0) return 0;
  uint64_t want = (uint64_t)(p * (double)(hist_n - 1)) + 1, seen = 0;
  for (uint64_t i = 0; i < MAX_LAT_US; i++) {
    seen += hist[i];
    if (seen >= want) return i;
  }
  return MAX_LAT_US;
}

static void raise_nofile(void) {
  struct rlimit r;
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

static int tcp_socket(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

static void print_errors(void) {
  printf("\"errors\":[");
  for (int i = 0; i < nerrors; i++) printf("%s\"%s\"", i ? "," : "", errors[i]);
  printf("]");
}

// ---- tcp ------------------------------------------------------------------

struct tconn {
  int fd;
  uint32_t pos;          /* bytes of the current reply frame read so far */
  unsigned char head[16]; /* its header and send time */
  unsigned char *out;    /* bytes a short write left unsent */
  size_t out_len;
  int dead;
};

static int run_tcp(int port, int nconn, int inflight, int size, int warmup_ms, int measure_ms, int pid, int bucket_ms) {
  if (size < 8) size = 8;
  const uint32_t F = 8 + size;
  unsigned char *tmpl = malloc((size_t)F * inflight);
  for (int i = 0; i < inflight; i++) {
    unsigned char *f = tmpl + (size_t)i * F;
    put32(f, MSG_ID);
    put32(f + 4, size);
    for (int j = 16; j < (int)F; j++) f[j] = (unsigned char)(j * 31);
  }
  unsigned char *batch = malloc((size_t)F * inflight);
  memcpy(batch, tmpl, (size_t)F * inflight);
  struct tconn *c = calloc(nconn, sizeof *c);
  int ep = epoll_create1(0);
  for (int i = 0; i < nconn; i++) {
    c[i].fd = tcp_socket(port);
    if (c[i].fd < 0) {
      note("%s: %s", "connect", errno);
      c[i].dead = 1;
      continue;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = i};
    epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev);
  }
  // The first requests go out once each connection is writable (connected).
  int *started = calloc(nconn, sizeof(int));
  uint64_t t0 = now_ns(), t_measure = t0 + (uint64_t)warmup_ms * 1000000ull, t_end = t_measure + (uint64_t)measure_ms * 1000000ull;
  uint64_t msgs = 0, bad = 0, closed = 0, rx_bytes = 0;
  double cpu_s0 = -1, cpu_l0 = 0, cpu_s1 = -1, cpu_l1 = 0;
  uint64_t tm0 = 0, tm1 = 0;
  int measuring = 0;
  // One more bucket than the window holds: the last read may land just past its end.
  size_t nbuckets = bucket_ms > 0 ? (size_t)(measure_ms / bucket_ms) + 2 : 0;
  uint64_t *buckets = nbuckets ? calloc(nbuckets, sizeof *buckets) : NULL;
  static unsigned char rbuf[1 << 18];
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, 5);
    uint64_t now = now_ns();
    if (!measuring && now >= t_measure) {
      measuring = 1;
      tm0 = now;
      cpu_s0 = proc_cpu(pid);
      cpu_l0 = self_cpu();
      if (buckets) printf("{\"measuring\":\"%lu\"}\n", tm0);
    }
    if (measuring && now >= t_end) {
      tm1 = now;
      cpu_s1 = proc_cpu(pid);
      cpu_l1 = self_cpu();
      break;
    }
    for (int e = 0; e < n; e++) {
      struct tconn *k = &c[evs[e].data.u32];
      if (k->dead) continue;
      if (!started[evs[e].data.u32] && (evs[e].events & EPOLLOUT)) {
        started[evs[e].data.u32] = 1;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = evs[e].data.u32};
        epoll_ctl(ep, EPOLL_CTL_MOD, k->fd, &ev);
        for (int i = 0; i < inflight; i++) memcpy(batch + (size_t)i * F + 8, &now, 8);
        ssize_t w = write(k->fd, batch, (size_t)F * inflight);
        if (w < (ssize_t)(F * inflight)) {
          size_t off = w > 0 ? (size_t)w : 0;
          k->out_len = (size_t)F * inflight - off;
          k->out = malloc(k->out_len);
          memcpy(k->out, batch + off, k->out_len);
          struct epoll_event ev2 = {.events = EPOLLIN | EPOLLOUT, .data.u32 = evs[e].data.u32};
          epoll_ctl(ep, EPOLL_CTL_MOD, k->fd, &ev2);
        }
        continue;
      }
      if (evs[e].events & EPOLLOUT && k->out_len) {
        ssize_t w = write(k->fd, k->out, k->out_len);
        if (w > 0) {
          memmove(k->out, k->out + w, k->out_len - w);
          k->out_len -= w;
        }
        if (!k->out_len) {
          struct epoll_event ev = {.events = EPOLLIN, .data.u32 = evs[e].data.u32};
          epoll_ctl(ep, EPOLL_CTL_MOD, k->fd, &ev);
        }
      }
      if (!(evs[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
      ssize_t r = read(k->fd, rbuf, sizeof rbuf);
      if (r <= 0) {
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (r < 0) note("%s: %s", "read", errno);
        k->dead = 1;
        closed++;
        close(k->fd);
        continue;
      }
      rx_bytes += r;
      int done = 0;
      for (ssize_t i = 0; i < r;) {
        if (k->pos < 16) {
          size_t take = 16 - k->pos;
          if (take > (size_t)(r - i)) take = r - i;
          memcpy(k->head + k->pos, rbuf + i, take);
          k->pos += take;
          i += take;
          if (k->pos < 16) break;
          if (get32(k->head) != MSG_ID || get32(k->head + 4) != (uint32_t)size) bad++;
        }
        size_t rest = F - k->pos;
        if (rest > (size_t)(r - i)) rest = r - i;
        // Spot-check the pattern: the last byte of a frame must be what was sent.
        if (F > 16 && k->pos + rest == F && rest > 0 && rbuf[i + rest - 1] != (unsigned char)((F - 1) * 31)) bad++;
        k->pos += rest;
        i += rest;
        if (k->pos == F) {
          k->pos = 0;
          done++;
          if (measuring) {
            uint64_t sent;
            memcpy(&sent, k->head + 8, 8);
            record(sent, now);
          }
        }
      }
      if (measuring) {
        msgs += done;
        if (buckets) {
          size_t b = (size_t)((now - tm0) / ((uint64_t)bucket_ms * 1000000ull));
          buckets[b < nbuckets ? b : nbuckets - 1] += done;
        }
      }
      if (done) {
        for (int i = 0; i < done; i++) memcpy(batch + (size_t)i * F + 8, &now, 8);
        size_t len = (size_t)F * done;
        if (k->out_len) {
          k->out = realloc(k->out, k->out_len + len);
          memcpy(k->out + k->out_len, batch, len);
          k->out_len += len;
        } else {
          ssize_t w = write(k->fd, batch, len);
          if (w < (ssize_t)len) {
            if (w < 0 && errno != EAGAIN) {
              note("%s: %s", "write", errno);
              w = 0;
            }
            size_t off = w > 0 ? (size_t)w : 0;
            free(k->out);
            k->out_len = len - off;
            k->out = malloc(k->out_len);
            memcpy(k->out, batch + off, k->out_len);
            struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = evs[e].data.u32};
            epoll_ctl(ep, EPOLL_CTL_MOD, k->fd, &ev);
          }
        }
      }
    }
  }
  double secs = (tm1 - tm0) / 1e9;
  printf("{\"msgs\":%lu,\"seconds\":%.4f,\"msgsPerSec\":%.1f,\"p50Us\":%lu,\"p99Us\":%lu,\"maxUs\":%lu,\"bad\":%lu,\"closed\":%lu,\"lost\":0,\"rxBytes\":%lu,"
         "\"serverCpuSeconds\":%.3f,\"loadCpuSeconds\":%.3f,",
         msgs, secs, msgs / secs, pct(0.5), pct(0.99), pct(1.0), bad, closed, rx_bytes, cpu_s0 < 0 || cpu_s1 < 0 ? -1.0 : cpu_s1 - cpu_s0, cpu_l1 - cpu_l0);
  if (buckets) {
    printf("\"bucketMs\":%d,\"buckets\":[", bucket_ms);
    for (size_t b = 0; b < nbuckets; b++) printf("%s%lu", b ? "," : "", buckets[b]);
    printf("],");
  }
  print_errors();
  printf("}\n");
  return 0;
}

// ---- udp ------------------------------------------------------------------

#define UDP_BATCH 64
#define UDP_LOSS_NS 200000000ull

static int run_udp(int port, int nsock, int inflight, int size, int warmup_ms, int measure_ms, int pid) {
  if (size < 8) size = 8;
  const int D = 4 + size;
  int *fd = calloc(nsock, sizeof(int));
  int *outstanding = calloc(nsock, sizeof(int));
  uint64_t *last_rx = calloc(nsock, sizeof(uint64_t));
  int ep = epoll_create1(0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  unsigned char (*tx)[D] = malloc((size_t)UDP_BATCH * D);
  for (int i = 0; i < UDP_BATCH; i++) {
    put32(tx[i], MSG_ID);
    for (int j = 12; j < D; j++) tx[i][j] = (unsigned char)(j * 31);
  }
  static unsigned char rx[UDP_BATCH][65536 + 4];
  struct mmsghdr rmsg[UDP_BATCH], smsg[UDP_BATCH];
  struct iovec riov[UDP_BATCH], siov[UDP_BATCH];
  for (int i = 0; i < UDP_BATCH; i++) {
    riov[i] = (struct iovec){.iov_base = rx[i], .iov_len = sizeof rx[i]};
    rmsg[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &riov[i], .msg_iovlen = 1}};
    siov[i] = (struct iovec){.iov_base = tx[i], .iov_len = D};
    smsg[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &siov[i], .msg_iovlen = 1}};
  }
  uint64_t now = now_ns();
  for (int s = 0; s < nsock; s++) {
    fd[s] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    connect(fd[s], (struct sockaddr *)&a, sizeof a);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = s};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd[s], &ev);
    for (int i = 0; i < inflight; i++) memcpy(tx[i] + 4, &now, 8);
    int sent = sendmmsg(fd[s], smsg, inflight, 0);
    outstanding[s] = sent > 0 ? sent : 0;
    last_rx[s] = now;
  }
  uint64_t t_measure = now + (uint64_t)warmup_ms * 1000000ull, t_end = t_measure + (uint64_t)measure_ms * 1000000ull;
  uint64_t msgs = 0, bad = 0, lost = 0, tm0 = 0, tm1 = 0;
  double cpu_s0 = -1, cpu_l0 = 0, cpu_s1 = -1, cpu_l1 = 0;
  int measuring = 0;
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, 5);
    now = now_ns();
    if (!measuring && now >= t_measure) {
      measuring = 1;
      tm0 = now;
      cpu_s0 = proc_cpu(pid);
      cpu_l0 = self_cpu();
    }
    if (measuring && now >= t_end) {
      tm1 = now;
      cpu_s1 = proc_cpu(pid);
      cpu_l1 = self_cpu();
      break;
    }
    for (int e = 0; e < n; e++) {
      int s = evs[e].data.u32;
      int got = recvmmsg(fd[s], rmsg, UDP_BATCH, MSG_DONTWAIT, NULL);
      if (got <= 0) continue;
      last_rx[s] = now;
      for (int i = 0; i < got; i++) {
        if (rmsg[i].msg_len != (unsigned)D || get32(rx[i]) != MSG_ID || (D > 12 && rx[i][D - 1] != (unsigned char)((D - 1) * 31))) {
          bad++;
          continue;
        }
        if (measuring) {
          uint64_t sent;
          memcpy(&sent, rx[i] + 4, 8);
          record(sent, now);
        }
      }
      if (measuring) msgs += got;
      outstanding[s] -= got;
      if (outstanding[s] < 0) outstanding[s] = 0;
      int want = inflight - outstanding[s];
      if (want > UDP_BATCH) want = UDP_BATCH;
      for (int i = 0; i < want; i++) memcpy(tx[i] + 4, &now, 8);
      int sent = want > 0 ? sendmmsg(fd[s], smsg, want, 0) : 0;
      if (sent > 0) outstanding[s] += sent;
    }
    // A socket silent for UDP_LOSS_NS has lost what it had in flight: send its window again.
    for (int s = 0; s < nsock; s++) {
      if (now - last_rx[s] < UDP_LOSS_NS) continue;
      if (measuring) lost += outstanding[s];
      for (int i = 0; i < inflight && i < UDP_BATCH; i++) memcpy(tx[i] + 4, &now, 8);
      int sent = sendmmsg(fd[s], smsg, inflight < UDP_BATCH ? inflight : UDP_BATCH, 0);
      outstanding[s] = sent > 0 ? sent : 0;
      last_rx[s] = now;
    }
  }
  double secs = (tm1 - tm0) / 1e9;
  printf("{\"msgs\":%lu,\"seconds\":%.4f,\"msgsPerSec\":%.1f,\"p50Us\":%lu,\"p99Us\":%lu,\"maxUs\":%lu,\"bad\":%lu,\"closed\":0,\"lost\":%lu,"
         "\"serverCpuSeconds\":%.3f,\"loadCpuSeconds\":%.3f,",
         msgs, secs, msgs / secs, pct(0.5), pct(0.99), pct(1.0), bad, lost, cpu_s0 < 0 || cpu_s1 < 0 ? -1.0 : cpu_s1 - cpu_s0, cpu_l1 - cpu_l0);
  print_errors();
  printf("}\n");
  return 0;
}

// ---- accept -----------------------------------------------------------------

static int run_accept(int port, int count, int concurrency, int timeout_ms, int pid) {
  raise_nofile();
  int *fd = malloc(sizeof(int) * count);
  unsigned char *got = calloc(count, 1);
  unsigned char ping[16];
  put32(ping, MSG_ID);
  put32(ping + 4, 8);
  memcpy(ping + 8, "idle-png", 8);
  int ep = epoll_create1(0);
  int next = 0, pending = 0, opened = 0, failed = 0;
  uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)timeout_ms * 1000000ull;
  double cpu0 = proc_cpu(pid), l0 = self_cpu();
  struct epoll_event evs[256];
  unsigned char rbuf[256];
  while ((opened + failed < count) && now_ns() < deadline) {
    while (pending < concurrency && next < count) {
      int i = next++;
      fd[i] = tcp_socket(port);
      if (fd[i] < 0) {
        note("%s: %s", "connect", errno);
        failed++;
        continue;
      }
      struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = i};
      epoll_ctl(ep, EPOLL_CTL_ADD, fd[i], &ev);
      pending++;
    }
    int n = epoll_wait(ep, evs, 256, 50);
    for (int e = 0; e < n; e++) {
      int i = evs[e].data.u32;
      if (evs[e].events & (EPOLLERR | EPOLLHUP)) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(fd[i], SOL_SOCKET, SO_ERROR, &err, &l);
        note("%s: %s", "connection", err ? err : ECONNRESET);
        epoll_ctl(ep, EPOLL_CTL_DEL, fd[i], NULL);
        close(fd[i]);
        fd[i] = -1;
        failed++;
        pending--;
        continue;
      }
      if (evs[e].events & EPOLLOUT) {
        if (write(fd[i], ping, 16) != 16) note("%s: %s", "write", errno);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
        epoll_ctl(ep, EPOLL_CTL_MOD, fd[i], &ev);
        continue;
      }
      ssize_t r = read(fd[i], rbuf, sizeof rbuf);
      if (r > 0) got[i] += r;
      if (r == 0 || (r < 0 && errno != EAGAIN)) {
        note("%s: %s", "read", r == 0 ? ECONNRESET : errno);
        epoll_ctl(ep, EPOLL_CTL_DEL, fd[i], NULL);
        close(fd[i]);
        fd[i] = -1;
        failed++;
        pending--;
      } else if (got[i] >= 16) {
        epoll_ctl(ep, EPOLL_CTL_DEL, fd[i], NULL);
        opened++;
        pending--;
      }
    }
  }
  uint64_t t1 = now_ns();
  double cpu1 = proc_cpu(pid), l1 = self_cpu();
  printf("{\"opened\":%d,\"failed\":%d,\"ms\":%.1f,\"serverCpuSeconds\":%.3f,\"loadCpuSeconds\":%.3f,", opened, failed, (t1 - t0) / 1e6,
         cpu0 < 0 || cpu1 < 0 ? -1.0 : cpu1 - cpu0, l1 - l0);
  print_errors();
  printf("}\n");
  fflush(stdout);
  // Hold the connections until told to let go.
  char line[64];
  if (!fgets(line, sizeof line, stdin)) { /* EOF: let go too */ }
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  for (int i = 0; i < next; i++) {
    if (fd[i] < 0) continue;
    setsockopt(fd[i], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd[i]);
  }
  printf("{\"closed\":%d}\n", opened);
  return 0;
}

// ---- scrape ------------------------------------------------------------------

/** Reads one HTTP/1.1 response with a Content-Length (prom-client's): its total size, or -1. */
static long read_response(int fd, char *buf, size_t cap) {
  size_t have = 0;
  long want = -1;
  while (want < 0 || (long)have < want) {
    if (have == cap) return -1;
    ssize_t r = read(fd, buf + have, cap - have);
    if (r <= 0) return -1;
    have += r;
    if (want < 0) {
      buf[have < cap ? have : cap - 1] = 0;
      char *end = strstr(buf, "\r\n\r\n");
      if (!end) continue;
      char *cl = strcasestr(buf, "content-length:");
      if (!cl || cl > end) return -1;
      want = (end + 4 - buf) + atol(cl + 15);
    }
  }
  return want;
}

static int run_scrape(int port, int interval_ms, int max_ms) {
  static char buf[1 << 20];
  const char *req = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\n\r\n";
  int fd = -1, scrapes = 0, failed = 0;
  long bytes = 0;
  double slowest = 0;
  uint64_t end = now_ns() + (uint64_t)max_ms * 1000000ull;
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  while (now_ns() < end) {
    char line[64];
    ssize_t in = read(0, line, sizeof line);
    if (in >= 0) break; /* a line or EOF: stop */
    if (fd < 0) {
      /* Blocking, with a 5 s bound on each read: one scrape at a time. */
      fd = socket(AF_INET, SOCK_STREAM, 0);
      struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      struct timeval tv = {5, 0};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        fd = -1;
      }
    }
    uint64_t t0 = now_ns();
    long n = -1;
    errno = 0;
    if (fd >= 0 && write(fd, req, strlen(req)) == (ssize_t)strlen(req)) n = read_response(fd, buf, sizeof buf);
    if (n < 0) {
      note("%s: %s", "scrape", errno ? errno : EPROTO);
      failed++;
      if (fd >= 0) close(fd);
      fd = -1;
    } else {
      scrapes++;
      bytes += n;
      double ms = (now_ns() - t0) / 1e6;
      if (ms > slowest) slowest = ms;
    }
    struct timespec pause = {interval_ms / 1000, (long)(interval_ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
  }
  if (fd >= 0) close(fd);
  printf("{\"scrapes\":%d,\"failed\":%d,\"bytes\":%ld,\"slowestMs\":%.2f,", scrapes, failed, bytes, slowest);
  print_errors();
  printf("}\n");
  return 0;
}

// ---- burn --------------------------------------------------------------------

static int run_burn(int ms) {
  uint64_t end = now_ns() + (uint64_t)ms * 1000000ull;
  volatile uint64_t x = 1;
  while (now_ns() < end)
    for (int i = 0; i < 10000; i++) x = x * 6364136223846793005ull + 1;
  return 0;
}

// ---- probe -------------------------------------------------------------------

/** Echo must return exactly what was sent, also with frames split inside a header and inside a body. */
static int run_probe(int tcp_port, int udp_port) {
  unsigned char all[8 * 4 + 1 + 10 + 5000];
  size_t len = 0;
  const int sizes[4] = {0, 1, 10, 5000};
  for (int k = 0; k < 4; k++) {
    put32(all + len, MSG_ID);
    put32(all + len + 4, sizes[k]);
    len += 8;
    for (int j = 0; j < sizes[k]; j++) all[len++] = (unsigned char)('a' + (j * 7 + k) % 26);
  }
  int problems = 0;
  int fd = tcp_socket(tcp_port);
  struct timespec pause = {0, 20000000};
  // Blocking from here: a probe is three writes and one read loop.
  int fl = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  struct timeval tv = {3, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  size_t cuts[4] = {0, 5, 21, len};
  for (int k = 0; k < 3; k++) {
    if (write(fd, all + cuts[k], cuts[k + 1] - cuts[k]) < 0) note("%s: %s", "probe write", errno);
    nanosleep(&pause, NULL);
  }
  unsigned char back[sizeof all];
  size_t have = 0;
  while (have < len) {
    ssize_t r = read(fd, back + have, len - have);
    if (r <= 0) break;
    have += r;
  }
  if (have != len || memcmp(back, all, len) != 0) {
    problems++;
    if (nerrors < MAX_ERRORS) snprintf(errors[nerrors++], sizeof errors[0], "tcp probe: got %zu of %zu bytes%s", have, len, have == len ? ", content differs" : "");
  }
  close(fd);
  int u = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(udp_port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  connect(u, (struct sockaddr *)&a, sizeof a);
  struct timeval utv = {0, 500000};
  setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &utv, sizeof utv);
  unsigned char dg[13] = {0, 0, 0, MSG_ID, 'u', 'd', 'p', ' ', 'p', 'r', 'o', 'b', 'e'}, ub[64];
  ssize_t r = -1;
  for (int tries = 0; tries < 3 && r < 0; tries++) {
    send(u, dg, sizeof dg, 0);
    r = recv(u, ub, sizeof ub, 0);
  }
  if (r != (ssize_t)sizeof dg || memcmp(ub, dg, sizeof dg) != 0) {
    problems++;
    if (nerrors < MAX_ERRORS) snprintf(errors[nerrors++], sizeof errors[0], "udp probe: %s", r < 0 ? "no reply in 3 tries" : "echo differs");
  }
  close(u);
  printf("{\"ok\":%s,", problems ? "false" : "true");
  print_errors();
  printf("}\n");
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  hist = calloc(MAX_LAT_US, sizeof *hist);
  int v[8] = {0};
  for (int i = 2; i < argc && i < 10; i++) v[i - 2] = atoi(argv[i]);
  if (argc >= 9 && !strcmp(argv[1], "tcp")) return run_tcp(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
  if (argc >= 9 && !strcmp(argv[1], "udp")) return run_udp(v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
  if (argc >= 7 && !strcmp(argv[1], "accept")) return run_accept(v[0], v[1], v[2], v[3], v[4]);
  if (argc >= 4 && !strcmp(argv[1], "probe")) return run_probe(v[0], v[1]);
  if (argc >= 5 && !strcmp(argv[1], "scrape")) return run_scrape(v[0], v[1], v[2]);
  if (argc >= 3 && !strcmp(argv[1], "burn")) return run_burn(v[0]);
  fprintf(stderr,
          "usage: loadgen tcp PORT CONNS INFLIGHT SIZE WARMUP_MS MEASURE_MS SERVER_PID [BUCKET_MS]\n"
          "       loadgen udp PORT SOCKETS INFLIGHT SIZE WARMUP_MS MEASURE_MS SERVER_PID\n"
          "       loadgen accept PORT COUNT CONCURRENCY TIMEOUT_MS SERVER_PID\n"
          "       loadgen probe TCP_PORT UDP_PORT\n"
          "       loadgen scrape HTTP_PORT INTERVAL_MS MAX_MS\n"
          "       loadgen burn MS\n");
  return 2;
}
