/* W4 bare libuv line-echo server: echoes every complete line back
 * (one shared read buffer; each write copies its bytes), 127.0.0.1 only.
 *   bare_libuv PORT
 */
#include <uv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  uv_tcp_t tcp;
  char *pend;          /* partial line carried over */
  size_t plen;
} client_t;

typedef struct {
  uv_write_t req;
  char data[];         /* the bytes being written */
} wreq_t;

static uv_loop_t *loop;
static char rbuf[65536];   /* one read buffer: reads are handled synchronously */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h; (void)suggested;
  *buf = uv_buf_init(rbuf, sizeof rbuf);
}

static void on_closed(uv_handle_t *h) {
  client_t *c = (client_t *)h;
  free(c->pend);
  free(c);
}

static void on_written(uv_write_t *req, int status) {
  (void)status;
  free(req);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  client_t *c = (client_t *)s;
  if (nread <= 0) {
    if (nread < 0 && !uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, on_closed);
    return;
  }
  char *data = buf->base, *joined = NULL;
  size_t len = (size_t)nread;
  if (c->plen) {                      /* join with the carried-over partial line */
    joined = malloc(c->plen + len);
    memcpy(joined, c->pend, c->plen);
    memcpy(joined + c->plen, data, len);
    data = joined;
    len += c->plen;
    free(c->pend);
    c->pend = NULL;
    c->plen = 0;
  }
  size_t end = len;
  while (end > 0 && data[end - 1] != '\n') end--;
  if (end < len) {                    /* keep the tail without '\n' */
    c->plen = len - end;
    c->pend = malloc(c->plen);
    memcpy(c->pend, data + end, c->plen);
  }
  if (end == 0) { free(joined); return; }
  wreq_t *w = malloc(sizeof *w + end);   /* request and its bytes in one block */
  memcpy(w->data, data, end);
  free(joined);
  uv_buf_t out = uv_buf_init(w->data, (unsigned)end);
  if (uv_write(&w->req, s, &out, 1, on_written) < 0) {
    free(w);
    if (!uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, on_closed);
  }
}

static void on_conn(uv_stream_t *server, int status) {
  if (status < 0) return;
  client_t *c = calloc(1, sizeof *c);
  uv_tcp_init(loop, &c->tcp);
  if (uv_accept(server, (uv_stream_t *)&c->tcp) == 0) {
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
  } else {
    uv_close((uv_handle_t *)&c->tcp, on_closed);
  }
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 8000;
  struct sockaddr_in addr;
  uv_tcp_t server;
  loop = uv_default_loop();
  uv_ip4_addr("127.0.0.1", port, &addr);
  uv_tcp_init(loop, &server);
  int r = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
  if (!r) r = uv_listen((uv_stream_t *)&server, 1024, on_conn);
  if (r) { fprintf(stderr, "bare_libuv: %s\n", uv_strerror(r)); return 1; }
  return uv_run(loop, UV_RUN_DEFAULT);
}
