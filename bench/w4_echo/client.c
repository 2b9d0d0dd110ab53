/* W4 echo load client (libuv), loopback only (127.0.0.1).
 *
 *   client PORT pingpong TOTAL CONNS [SERVER_PID]
 *       CONNS connections each do ping-pong of 64-byte lines ("x...x\n");
 *       TOTAL round trips overall. Prints, if SERVER_PID is given,
 *       "CPU <us> us/rt" (server utime+stime from /proc/PID/stat per round
 *       trip), then "RESULT <n> rt/s".
 *   client PORT idle COUNT 0 SERVER_PID
 *       opens COUNT connections (at most 64 connects in flight), does one
 *       round trip on each, leaves them idle, waits 500 ms and prints
 *       "RESULT <bytes> B/conn" = server VmRSS delta / COUNT.
 *
 * Before either, it waits (up to 15 s) until the server accepts connections.
 */
#include <uv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#define LINE_LEN 64
#define MAX_INFLIGHT_CONNECTS 64

typedef struct conn {
  uv_tcp_t tcp;
  uv_connect_t creq;
  uv_write_t wreq;
  long remaining;     /* round trips still to do */
  int got;            /* bytes of the current echo received */
  int idx;
  char rbuf[4096];
} conn_t;

static uv_loop_t *loop;
static struct sockaddr_in addr;
static char line[LINE_LEN];
static conn_t *conns;
static int nconns, connected, finished, started_connects, inflight;
static long total;
static int idle_mode;
static int server_pid;
static uint64_t t_start;
static long cpu_start;
static long rss_start_kb;
static uv_timer_t guard_timer, settle_timer;
static int failed;

static long read_server_cpu(void) {
  char path[64], buf[1024];
  if (server_pid <= 0) return -1;
  snprintf(path, sizeof path, "/proc/%d/stat", server_pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return -1;
  p += 2; /* now at field 3 (state) */
  long utime = 0, stime = 0;
  /* fields 3..13 are skipped, 14 = utime, 15 = stime */
  int field = 3;
  char *save = NULL;
  for (char *tok = strtok_r(p, " ", &save); tok; tok = strtok_r(NULL, " ", &save), field++) {
    if (field == 14) utime = atol(tok);
    if (field == 15) { stime = atol(tok); break; }
  }
  return utime + stime;
}

static long read_server_rss_kb(void) {
  char path[64], buf[4096];
  if (server_pid <= 0) return -1;
  snprintf(path, sizeof path, "/proc/%d/status", server_pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  long kb = -1;
  while (fgets(buf, sizeof buf, f))
    if (strncmp(buf, "VmRSS:", 6) == 0) { kb = atol(buf + 6); break; }
  fclose(f);
  return kb;
}

static void wait_for_server(void) {
  for (int i = 0; i < 300; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) break;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) { close(fd); usleep(100000); return; }
    close(fd);
    usleep(50000);
  }
  fprintf(stderr, "client: server on port %d never accepted a connection\n", ntohs(addr.sin_port));
  exit(2);
}

static void on_close(uv_handle_t *h) { (void)h; }

static void close_all(void) {
  for (int i = 0; i < nconns; i++)
    if (!uv_is_closing((uv_handle_t *)&conns[i].tcp) && conns[i].tcp.loop)
      uv_close((uv_handle_t *)&conns[i].tcp, on_close);
  uv_close((uv_handle_t *)&guard_timer, NULL);
  if (idle_mode && settle_timer.loop) uv_close((uv_handle_t *)&settle_timer, NULL);
}

static void fail(const char *what, int err) {
  fprintf(stderr, "client: %s: %s\n", what, uv_strerror(err));
  if (!failed) { failed = 1; close_all(); }
}

static void send_line(conn_t *c);

static void on_write(uv_write_t *req, int status) {
  (void)req;
  if (status < 0) fail("write", status);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  conn_t *c = h->data;
  *buf = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void report_pingpong(void) {
  double secs = (uv_hrtime() - t_start) / 1e9;
  if (server_pid > 0) {
    long cpu_end = read_server_cpu();
    if (cpu_start >= 0 && cpu_end >= 0) {
      double us = (double)(cpu_end - cpu_start) / sysconf(_SC_CLK_TCK) * 1e6 / (double)total;
      printf("CPU %.4g us/rt\n", us);
    }
  }
  printf("RESULT %.6g rt/s\n", (double)total / secs);
  fflush(stdout);
}

static void settle_done(uv_timer_t *t) {
  (void)t;
  long rss_end = read_server_rss_kb();
  if (rss_end < 0 || rss_start_kb < 0) fprintf(stderr, "client: cannot read server RSS\n");
  else printf("RESULT %.6g B/conn\n", (double)(rss_end - rss_start_kb) * 1024.0 / nconns);
  fflush(stdout);
  close_all();
}

static void conn_done(void) {
  finished++;
  if (finished == nconns) {
    if (idle_mode) {
      uv_timer_init(loop, &settle_timer);
      uv_timer_start(&settle_timer, settle_done, 500, 0);
    } else {
      report_pingpong();
      close_all();
    }
  }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  conn_t *c = s->data;
  (void)buf;
  if (nread == 0) return;
  if (nread < 0) { fail("read", (int)nread); return; }
  for (ssize_t i = 0; i < nread; i++) {
    if (c->rbuf[i] == '\n') {
      if (c->got + i + 1 != LINE_LEN) { /* tolerate, but it should not happen */ }
      c->got = 0;
      c->remaining--;
      if (c->remaining > 0) send_line(c);
      else { uv_read_stop(s); conn_done(); }
      goto next;
    }
  }
  c->got += (int)nread;
next:;
}

static void send_line(conn_t *c) {
  uv_buf_t b = uv_buf_init(line, LINE_LEN);
  int r = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
  if (r < 0) fail("uv_write", r);
}

static void start_more_connects(void);

static void on_connect(uv_connect_t *req, int status) {
  conn_t *c = req->data;
  inflight--;
  if (status < 0) { fail("connect", status); return; }
  uv_tcp_nodelay(&c->tcp, 1);
  connected++;
  uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
  if (idle_mode) {
    send_line(c);
    start_more_connects();
  } else if (connected == nconns) {
    t_start = uv_hrtime();
    cpu_start = read_server_cpu();
    for (int i = 0; i < nconns; i++) send_line(&conns[i]);
  }
}

static void start_more_connects(void) {
  while (started_connects < nconns && inflight < MAX_INFLIGHT_CONNECTS && !failed) {
    conn_t *c = &conns[started_connects++];
    uv_tcp_init(loop, &c->tcp);
    c->tcp.data = c;
    c->creq.data = c;
    int r = uv_tcp_connect(&c->creq, &c->tcp, (struct sockaddr *)&addr, on_connect);
    if (r < 0) { fail("uv_tcp_connect", r); return; }
    inflight++;
  }
}

static void on_guard(uv_timer_t *t) {
  (void)t;
  fprintf(stderr, "client: timed out (connected %d/%d, finished %d)\n", connected, nconns, finished);
  failed = 1;
  close_all();
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s PORT pingpong TOTAL CONNS [SERVER_PID] | PORT idle COUNT 0 SERVER_PID\n", argv[0]);
    return 2;
  }
  int port = atoi(argv[1]);
  idle_mode = strcmp(argv[2], "idle") == 0;
  long count = atol(argv[3]);
  server_pid = argc > 5 ? atoi(argv[5]) : 0;
  if (idle_mode) { nconns = (int)count; total = count; }
  else { nconns = atoi(argv[4]); total = count; }
  if (nconns <= 0 || total < nconns) { fprintf(stderr, "client: bad counts\n"); return 2; }

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && (long)rl.rlim_cur < nconns + 64) {
    fprintf(stderr, "client: open-file limit %ld too low for %d connections\n", (long)rl.rlim_cur, nconns);
    return 3;
  }

  memset(line, 'x', LINE_LEN - 1);
  line[LINE_LEN - 1] = '\n';
  uv_ip4_addr("127.0.0.1", port, &addr);   /* loopback only */
  wait_for_server();

  loop = uv_default_loop();
  conns = calloc((size_t)nconns, sizeof *conns);
  for (int i = 0; i < nconns; i++) {
    conns[i].idx = i;
    conns[i].remaining = idle_mode ? 1 : total / nconns + (i < total % nconns ? 1 : 0);
  }
  if (idle_mode) rss_start_kb = read_server_rss_kb();
  uv_timer_init(loop, &guard_timer);
  uv_timer_start(&guard_timer, on_guard, 170000, 0);
  start_more_connects();
  uv_run(loop, UV_RUN_DEFAULT);
  return failed ? 1 : 0;
}
