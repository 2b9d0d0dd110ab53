/* S1-S3 TLS load client (OpenSSL, blocking sockets, one thread per connection or worker),
 * loopback only (127.0.0.1). It does not verify the server (the server's cost is measured).
 *
 *   tls_client PORT pingpong TOTAL CONNS [SERVER_PID]
 *       CONNS TLS connections each ping-pong 64-byte lines ("x...x\n"); TOTAL round trips
 *       overall, timed once all are connected. Prints, if SERVER_PID is given,
 *       "CPU <us> us/rt" (server utime+stime from /proc/PID/stat per round trip), then
 *       "RESULT <n> rt/s".
 *   tls_client PORT handshake SECONDS THREADS [SERVER_PID]
 *       THREADS workers loop for SECONDS: connect, full TLS handshake (no session reuse),
 *       one 64-byte round trip, close_notify, close. Prints "CPU <us> us/hs" and
 *       "RESULT <n> hs/s".
 *   tls_client PORT idle COUNT 0 SERVER_PID
 *       opens COUNT TLS connections one after another (handshake and one round trip
 *       each), leaves them idle, waits 500 ms and prints "RESULT <bytes> B/conn" = server
 *       VmRSS delta / COUNT.
 * Before any of them it waits (up to 15 s) until the server accepts connections.
 */
#define _GNU_SOURCE
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#define LINE_LEN 64

static struct sockaddr_in addr;
static SSL_CTX *ctx;
static char line[LINE_LEN];
static int server_pid;
static long per_conn;
static double deadline;
static pthread_barrier_t barrier;
static long counts[1024];

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

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
  p += 2;
  long utime = 0, stime = 0;
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
  snprintf(path, sizeof path, "/proc/%d/status", server_pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  long kb = -1;
  while (fgets(buf, sizeof buf, f))
    if (strncmp(buf, "VmRSS:", 6) == 0) { kb = atol(buf + 6); break; }
  fclose(f);
  return kb;
}

static void die(const char *what) {
  fprintf(stderr, "client: %s\n", what);
  ERR_print_errors_fp(stderr);
  exit(1);
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

/* a connected TLS session, or exits */
static SSL *open_tls(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) die("connect");
  SSL *s = SSL_new(ctx);
  if (!s) die("SSL_new");
  SSL_set_fd(s, fd);
  if (SSL_connect(s) != 1) die("handshake");
  return s;
}

static void round_trip(SSL *s) {
  if (SSL_write(s, line, LINE_LEN) != LINE_LEN) die("write");
  char buf[LINE_LEN];
  int got = 0;
  while (got < LINE_LEN) {
    int n = SSL_read(s, buf + got, LINE_LEN - got);
    if (n <= 0) die("read (server closed?)");
    got += n;
  }
}

static void close_tls(SSL *s) {
  int fd = SSL_get_fd(s);
  SSL_shutdown(s);
  SSL_free(s);
  close(fd);
}

static void *pingpong_thread(void *arg) {
  (void)arg;
  SSL *s = open_tls();
  round_trip(s);
  pthread_barrier_wait(&barrier);
  for (long i = 0; i < per_conn; i++) round_trip(s);
  pthread_barrier_wait(&barrier);
  close_tls(s);
  return NULL;
}

static void *handshake_thread(void *arg) {
  long *count = arg;
  pthread_barrier_wait(&barrier);
  while (now() < deadline) {
    SSL *s = open_tls();
    round_trip(s);
    close_tls(s);
    (*count)++;
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: tls_client PORT pingpong|handshake|idle N CONNS|THREADS [SERVER_PID]\n");
    return 2;
  }
  int port = atoi(argv[1]);
  const char *mode = argv[2];
  double n = atof(argv[3]);
  int conns = atoi(argv[4]);
  server_pid = argc > 5 ? atoi(argv[5]) : 0;
  memset(line, 'x', LINE_LEN - 1);
  line[LINE_LEN - 1] = '\n';
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }
  ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) die("SSL_CTX_new");
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  wait_for_server();

  if (strcmp(mode, "pingpong") == 0) {
    if (conns < 1 || conns > 1000) die("bad CONNS");
    per_conn = (long)n / conns;
    pthread_t th[1000];
    pthread_barrier_init(&barrier, NULL, (unsigned)conns + 1);
    for (int i = 0; i < conns; i++) pthread_create(&th[i], NULL, pingpong_thread, NULL);
    pthread_barrier_wait(&barrier);
    long cpu0 = read_server_cpu();
    double t0 = now();
    pthread_barrier_wait(&barrier);
    double secs = now() - t0;
    long cpu1 = read_server_cpu();
    for (int i = 0; i < conns; i++) pthread_join(th[i], NULL);
    double total = (double)per_conn * conns;
    if (cpu0 >= 0 && cpu1 >= 0)
      printf("CPU %.4g us/rt\n", (double)(cpu1 - cpu0) / sysconf(_SC_CLK_TCK) * 1e6 / total);
    printf("RESULT %.6g rt/s\n", total / secs);
  } else if (strcmp(mode, "handshake") == 0) {
    if (conns < 1 || conns > 1000) die("bad THREADS");
    pthread_t th[1000];
    pthread_barrier_init(&barrier, NULL, (unsigned)conns + 1);
    deadline = now() + n;
    for (int i = 0; i < conns; i++) pthread_create(&th[i], NULL, handshake_thread, &counts[i]);
    long cpu0 = read_server_cpu();
    double t0 = now();
    pthread_barrier_wait(&barrier);
    long total = 0;
    for (int i = 0; i < conns; i++) { pthread_join(th[i], NULL); total += counts[i]; }
    double secs = now() - t0;
    long cpu1 = read_server_cpu();
    if (cpu0 >= 0 && cpu1 >= 0 && total > 0)
      printf("CPU %.4g us/hs\n", (double)(cpu1 - cpu0) / sysconf(_SC_CLK_TCK) * 1e6 / (double)total);
    printf("RESULT %.6g hs/s\n", (double)total / secs);
  } else if (strcmp(mode, "idle") == 0) {
    if (server_pid <= 0) die("idle needs SERVER_PID");
    long count = (long)n;
    SSL **all = calloc((size_t)count, sizeof *all);
    if (!all) die("out of memory");
    long rss0 = read_server_rss_kb();
    for (long i = 0; i < count; i++) { all[i] = open_tls(); round_trip(all[i]); }
    usleep(500000);
    long rss1 = read_server_rss_kb();
    if (rss0 < 0 || rss1 < 0) die("cannot read server RSS");
    printf("RESULT %.6g B/conn\n", (double)(rss1 - rss0) * 1024.0 / (double)count);
    fflush(stdout);
    for (long i = 0; i < count; i++) close_tls(all[i]);
    free(all);
  } else {
    die("unknown mode");
  }
  fflush(stdout);
  SSL_CTX_free(ctx);
  return 0;
}
