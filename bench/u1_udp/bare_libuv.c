/* U1 UDP ping-pong in bare libuv C, the floor: P pairs on 127.0.0.1 in one process; each
 * client sends 64 bytes, the server echoes (uv_udp_try_send, as luaio), the client sends
 * again on each echo, N/P times. No allocation per datagram: one static receive buffer.
 * usage: bare_libuv N P     Prints RESULT <round trips/s> rt/s. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static char rbuf[65536];
static char msg[64];
static int per, pending;

typedef struct pair { uv_udp_t srv, cli; int left; } pair;

static void alloc_cb(uv_handle_t *h, size_t n, uv_buf_t *b) { (void)h; (void)n; *b = uv_buf_init(rbuf, sizeof rbuf); }

static void send_or_die(uv_udp_t *h, const char *data, size_t len, const struct sockaddr *to) {
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
  int r = uv_udp_try_send(h, &b, 1, to);
  if (r < 0) { fprintf(stderr, "send: %s\n", uv_strerror(r)); exit(1); }
}

static void srv_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *b, const struct sockaddr *a, unsigned f) {
  (void)f;
  if (n < 0) { fprintf(stderr, "recv: %s\n", uv_strerror((int)n)); exit(1); }
  if (!a) return;
  send_or_die(h, b->base, (size_t)n, a);
}

static void cli_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *b, const struct sockaddr *a, unsigned f) {
  (void)b; (void)f;
  if (n < 0) { fprintf(stderr, "recv: %s\n", uv_strerror((int)n)); exit(1); }
  if (!a) return;
  if (n != 64) { fprintf(stderr, "short echo\n"); exit(1); }
  pair *p = h->data;
  if (--p->left == 0) {
    uv_udp_recv_stop(h);
    if (--pending == 0) uv_stop(h->loop);
    return;
  }
  send_or_die(h, msg, sizeof msg, NULL);
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 200000, np = argc > 2 ? atoi(argv[2]) : 1;
  per = n / np;
  memset(msg, 'x', sizeof msg);
  uv_loop_t *loop = uv_default_loop();
  pair *ps = calloc((size_t)np, sizeof *ps);
  for (int i = 0; i < np; i++) {
    pair *p = &ps[i];
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_udp_init(loop, &p->srv);
    uv_udp_bind(&p->srv, (struct sockaddr *)&a, 0);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    uv_udp_getsockname(&p->srv, (struct sockaddr *)&ss, &len);
    uv_udp_init(loop, &p->cli);
    uv_udp_connect(&p->cli, (struct sockaddr *)&ss);
    p->cli.data = p;
    p->left = per;
    uv_udp_recv_start(&p->srv, alloc_cb, srv_recv);
    uv_udp_recv_start(&p->cli, alloc_cb, cli_recv);
  }
  pending = np;
  uint64_t t0 = uv_hrtime();
  for (int i = 0; i < np; i++) send_or_die(&ps[i].cli, msg, sizeof msg, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  double dt = (double)(uv_hrtime() - t0) / 1e9;
  printf("RESULT %.6g rt/s\n", (double)per * np / dt);
  return 0;
}
