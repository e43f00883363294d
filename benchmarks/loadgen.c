/*
 * loadgen.c - a single-threaded epoll load generator for netlab's benchmarks.
 *
 * Build:  cc -O2 -Wall -Wextra -std=gnu11 -o loadgen benchmarks/loadgen.c -lm
 *
 * Modes (see --help):
 *   tcp-echo  N connections ping-pong one S-byte message each, verified
 *   tcp-line  one S-byte line each; any one line back ENDING with the payload
 *   udp       N sockets, one S-byte datagram in flight each; timeouts = lost
 *   chat      N clients, K senders, fan-out latency measured by every client
 *   idle      hold N connections; optionally the server's RSS per connection
 *
 * Phases: connect -> (chat: settle) -> warm-up -> measured window -> close.
 * Only the measured window is counted.  The last line of output is one
 * machine-readable "RESULT key=value ..." line.  Traffic goes to loopback
 * only: any other address is refused.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Options                                                            */
/* ------------------------------------------------------------------ */

enum mode { M_ECHO, M_LINE, M_UDP, M_CHAT, M_IDLE };
static const char *mode_names[] = {"tcp-echo", "tcp-line", "udp", "chat", "idle"};

static struct {
    enum mode mode;
    const char *host;
    int port;
    int conns;
    int size;
    double duration, warmup, settle, connect_timeout;
    int senders, window;
    double rate;
    char *first_line;   /* escapes already interpreted; contains one %d */
    long server_pid;
    const char *label;
    int timeout_ms;
    uint64_t max_requests;
    int await_reply;
} opt = {
    .host = "127.0.0.1", .port = 0, .conns = 10, .size = 64,
    .duration = 5, .warmup = 1, .settle = 1, .connect_timeout = 30,
    .senders = 10, .window = 8, .rate = 0, .first_line = NULL,
    .server_pid = 0, .label = "-", .timeout_ms = 200,
    .max_requests = 50000000ULL, .await_reply = 0,
};

#define MAX_PENDING_CONNECTS 64
#define SCRATCH_SIZE (256 * 1024)
#define IDLE_WARM_CONNS 100

/* ------------------------------------------------------------------ */
/* Small helpers                                                      */
/* ------------------------------------------------------------------ */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t sec_to_ns(double s) { return (uint64_t)(s * 1e9); }

static void die_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(1);
    }
    return p;
}

/* ------------------------------------------------------------------ */
/* Latency histogram: log-linear buckets over nanoseconds.            */
/* Values < 64 have exact buckets; above, each power of two is split  */
/* into 32 sub-buckets (relative error < 3%).                         */
/* ------------------------------------------------------------------ */

#define H_BUCKETS (64 + 58 * 32)
static uint64_t hist[H_BUCKETS];
static uint64_t hist_count, hist_max;

static unsigned hist_index(uint64_t v)
{
    if (v < 64)
        return (unsigned)v;
    int e = 63 - __builtin_clzll(v);           /* 6..63 */
    uint64_t top = v >> (e - 5);               /* 32..63 */
    return 64 + (unsigned)(e - 6) * 32 + (unsigned)(top - 32);
}

static double hist_value(unsigned i)
{
    if (i < 64)
        return i;
    unsigned e = (i - 64) / 32 + 6;
    uint64_t top = (i - 64) % 32 + 32;
    double lo = (double)(top << (e - 5));
    return lo + (double)(1ULL << (e - 5)) / 2;  /* bucket middle */
}

static void hist_add(uint64_t ns)
{
    hist[hist_index(ns)]++;
    hist_count++;
    if (ns > hist_max)
        hist_max = ns;
}

/* The q-quantile in microseconds (0 when empty). */
static double hist_quantile_us(double q)
{
    if (!hist_count)
        return 0;
    uint64_t target = (uint64_t)ceil(q * (double)hist_count);
    if (target < 1)
        target = 1;
    uint64_t cum = 0;
    for (unsigned i = 0; i < H_BUCKETS; i++) {
        cum += hist[i];
        if (cum >= target) {
            double v = hist_value(i);
            if (v > (double)hist_max)
                v = (double)hist_max;
            return v / 1000.0;
        }
    }
    return (double)hist_max / 1000.0;
}

/* ------------------------------------------------------------------ */
/* Server sampling through /proc                                      */
/* ------------------------------------------------------------------ */

/* utime+stime of a process in seconds, or -1. */
static double proc_cpu_seconds(long pid)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');        /* the command name may hold spaces */
    if (!p)
        return -1;
    p++;
    /* After ')': field 3 (state) is token 0; utime (14) is token 11. */
    unsigned long long ut = 0, st = 0;
    int tok = 0;
    char *save = NULL;
    for (char *t = strtok_r(p, " ", &save); t; t = strtok_r(NULL, " ", &save), tok++) {
        if (tok == 11)
            ut = strtoull(t, NULL, 10);
        else if (tok == 12) {
            st = strtoull(t, NULL, 10);
            break;
        }
    }
    if (tok < 12)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* VmRSS of a process in kB, or -1. */
static long proc_rss_kb(long pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

static double self_cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* ------------------------------------------------------------------ */
/* Connections and global state                                       */
/* ------------------------------------------------------------------ */

enum cstate { ST_FREE, ST_CONNECTING, ST_AWAIT, ST_UP, ST_DEAD };
enum phase { PH_CONNECT, PH_SETTLE, PH_WARMUP, PH_MEASURE, PH_DONE };

struct conn {
    int fd;
    int idx;                 /* client index (for %d, payloads, chat) */
    uint8_t state;
    uint8_t busy;            /* a request is outstanding */
    uint8_t skipping;        /* discarding the rest of an overlong line */
    uint32_t events;         /* epoll events currently registered */
    uint64_t seq;            /* sequence number of the current request */
    uint64_t t_sent;         /* when the current request was sent */
    char *out;               /* output buffer (current request / line) */
    uint32_t out_len, out_off, out_cap;
    char *part;              /* partial-line buffer (line-based modes) */
    uint32_t part_len, part_cap;
    uint32_t in_got;         /* tcp-echo: bytes of the echo verified */
};

static int epfd = -1;
static struct sockaddr_storage srv_addr;
static socklen_t srv_addrlen;
static int srv_family;
static enum phase phase = PH_CONNECT;
static char *scratch;        /* shared receive buffer */
static uint64_t run_t0;      /* start of the run (chat ignores older stamps) */

static struct {
    uint64_t replies;        /* in window */
    uint64_t errors;         /* connect failures, resets, I/O errors */
    uint64_t mismatches;     /* replies that do not match what was sent */
    uint64_t lost;           /* udp: timeouts in window */
    uint64_t late;           /* udp: replies to datagrams given up on */
    uint64_t total_sent;     /* requests / chat lines, all phases */
    uint64_t sent_win;       /* chat: lines sent in window */
    uint64_t deliv_win;      /* chat: deliveries in window */
    uint64_t overlong;       /* chat: lines too long to examine */
    uint64_t stalls;         /* chat: windows reset after no progress */
    uint64_t inflight;       /* requests outstanding */
    int pending;             /* connects (or awaited first bytes) pending */
    int up;                  /* connections established */
    int failed;              /* connections that failed to establish */
} st;

/* chat pacing state, indexed by sender */
static uint64_t *chat_sent_seq, *chat_seen_seq, *chat_progress_t;
static double chat_tokens;
static uint64_t chat_tokens_t;
static int chat_rr;

static void close_rst(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

static int in_connect_states(int s) { return s == ST_CONNECTING || s == ST_AWAIT; }

static void set_state(struct conn *c, int s)
{
    if (in_connect_states(c->state) && !in_connect_states(s))
        st.pending--;
    if (s == ST_UP && in_connect_states(c->state))
        st.up++;
    c->state = (uint8_t)s;
}

static void set_events(struct conn *c, uint32_t ev)
{
    if (c->events == ev)
        return;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e);
    c->events = ev;
}

/* Give up a connection: count it, reset it, forget it. */
static void conn_fail(struct conn *c, const char *what, int err)
{
    static int reported;
    if (c->state == ST_DEAD || c->state == ST_FREE)
        return;
    if (reported++ < 5)
        fprintf(stderr, "loadgen: conn %d: %s%s%s\n", c->idx, what,
                err ? ": " : "", err ? strerror(err) : "");
    if (in_connect_states(c->state))
        st.failed++;
    st.errors++;
    if (c->busy) {
        c->busy = 0;
        st.inflight--;
    }
    set_state(c, ST_DEAD);
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close_rst(c->fd);
    c->fd = -1;
}

/* A verification failure: count it and drop the (now desynchronised)
 * stream. */
static void conn_mismatch(struct conn *c)
{
    static int reported;
    if (reported++ < 5)
        fprintf(stderr, "loadgen: conn %d: reply does not match request %llu\n",
                c->idx, (unsigned long long)c->seq);
    st.mismatches++;
    if (c->busy) {
        c->busy = 0;
        st.inflight--;
    }
    set_state(c, ST_DEAD);
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close_rst(c->fd);
    c->fd = -1;
}

/* Write as much pending output as the socket takes. 0 ok, -1 failed. */
static int flush_out(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                         MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (uint32_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_events(c, EPOLLIN | EPOLLOUT);
            return 0;
        } else {
            conn_fail(c, "send", n < 0 ? errno : 0);
            return -1;
        }
    }
    set_events(c, EPOLLIN);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Payloads                                                           */
/* ------------------------------------------------------------------ */

/* Fill buf[0..len) with a message unique to (idx, seq): "idx:seq:" then
 * letters from a pattern that depends on both.  No '\n' appears in it. */
static void gen_payload(char *buf, size_t len, int idx, uint64_t seq)
{
    char head[48];
    int h = snprintf(head, sizeof head, "%d:%llu:", idx, (unsigned long long)seq);
    size_t hl = (size_t)h < len ? (size_t)h : len;
    memcpy(buf, head, hl);
    uint64_t x = (uint64_t)idx * 2654435761ULL ^ seq * 40503ULL ^ (seq >> 7);
    for (size_t i = hl; i < len; i++)
        buf[i] = (char)('a' + (x + i * 7) % 26);
}

/* Build request `seq` of connection c into c->out (tcp-echo, tcp-line, udp). */
static void build_request(struct conn *c)
{
    size_t s = (size_t)opt.size;
    if (opt.mode == M_LINE) {
        gen_payload(c->out, s - 1, c->idx, c->seq);
        c->out[s - 1] = '\n';
    } else {
        gen_payload(c->out, s, c->idx, c->seq);
    }
    c->out_len = (uint32_t)s;
    c->out_off = 0;
}

/* Send the next request on c, if the cap allows. */
static void issue_request(struct conn *c, uint64_t now)
{
    if (c->state != ST_UP || c->busy || st.total_sent >= opt.max_requests)
        return;
    c->seq++;
    build_request(c);
    c->in_got = 0;
    c->busy = 1;
    c->t_sent = now;
    st.inflight++;
    st.total_sent++;
    if (opt.mode == M_UDP) {
        ssize_t n = send(c->fd, c->out, c->out_len, 0);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
            /* e.g. ECONNREFUSED: nothing listens; the timeout re-sends. */
            st.errors++;
        }
        return;
    }
    flush_out(c);
}

/* A complete, verified reply on c. */
static void complete_request(struct conn *c, uint64_t now)
{
    if (phase == PH_MEASURE) {
        st.replies++;
        hist_add(now - c->t_sent);
    }
    c->busy = 0;
    st.inflight--;
    if (phase == PH_WARMUP || phase == PH_MEASURE)
        issue_request(c, now);
}

/* ------------------------------------------------------------------ */
/* Line handling (tcp-line, chat)                                     */
/* ------------------------------------------------------------------ */

typedef void (*line_fn)(struct conn *c, const char *line, size_t len, uint64_t now);

/* Split received bytes into lines (without "\n"), reassembling lines split
 * across reads in c->part.  Lines longer than part_cap are skipped. */
static void feed_lines(struct conn *c, const char *buf, size_t n, line_fn fn,
                       uint64_t now)
{
    size_t pos = 0;
    while (pos < n) {
        const char *nl = memchr(buf + pos, '\n', n - pos);
        if (!nl) {              /* an incomplete line: keep it */
            size_t fl = n - pos;
            if (!c->skipping) {
                if (c->part_len + fl <= c->part_cap) {
                    memcpy(c->part + c->part_len, buf + pos, fl);
                    c->part_len += (uint32_t)fl;
                } else {
                    c->skipping = 1;
                    c->part_len = 0;
                    st.overlong++;
                }
            }
            return;
        }
        size_t seg = (size_t)(nl - (buf + pos));
        if (c->skipping) {
            c->skipping = 0;
        } else if (c->part_len) {
            if (c->part_len + seg <= c->part_cap) {
                memcpy(c->part + c->part_len, buf + pos, seg);
                size_t l = c->part_len + seg;
                c->part_len = 0;
                fn(c, c->part, l, now);
            } else {
                c->part_len = 0;
                st.overlong++;
            }
        } else {
            fn(c, buf + pos, seg, now);
        }
        if (c->state == ST_DEAD)
            return;
        pos += seg + 1;
    }
}

/* tcp-line: one line back, which must end with the payload sent. */
static void line_reply(struct conn *c, const char *line, size_t len, uint64_t now)
{
    if (len && line[len - 1] == '\r')
        len--;
    size_t pl = (size_t)opt.size - 1;    /* payload without "\n" */
    if (!c->busy || len < pl || memcmp(line + len - pl, c->out, pl) != 0) {
        conn_mismatch(c);
        return;
    }
    complete_request(c, now);
}

/* Parse an unsigned decimal in [*p, end); advances *p. */
static int parse_u64(const char **p, const char *end, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (s >= end || *s < '0' || *s > '9')
        return -1;
    while (s < end && *s >= '0' && *s <= '9')
        v = v * 10 + (uint64_t)(*s++ - '0');
    *p = s;
    *out = v;
    return 0;
}

/* chat: a line received by client c.  Marker: "@T:<sender>:<seq>:<t_ns>;". */
static void chat_line(struct conn *c, const char *line, size_t len, uint64_t now)
{
    const char *m = memmem(line, len, "@T:", 3);
    if (!m)
        return;
    const char *p = m + 3, *end = line + len;
    uint64_t sender, seq, t;
    if (parse_u64(&p, end, &sender) || p >= end || *p++ != ':' ||
        parse_u64(&p, end, &seq) || p >= end || *p++ != ':' ||
        parse_u64(&p, end, &t) || p >= end || *p != ';')
        return;
    /* Own lines and stamps from before this run (a room's history
     * replayed on joining) are not deliveries. */
    if (sender == (uint64_t)c->idx || t < run_t0 || t > now)
        return;
    if (phase == PH_MEASURE) {
        st.deliv_win++;
        hist_add(now - t);
    }
    if (c->idx == opt.conns - 1 && sender < (uint64_t)opt.senders &&
        seq > chat_seen_seq[sender]) {
        chat_seen_seq[sender] = seq;
        chat_progress_t[sender] = now;
    }
}

/* chat: let senders send whatever window and rate allow. */
static void chat_pump(uint64_t now)
{
    if (phase != PH_WARMUP && phase != PH_MEASURE)
        return;
    int K = opt.senders;
    if (opt.rate > 0) {
        double burst = opt.rate / 100 > K ? opt.rate / 100 : K;
        chat_tokens += opt.rate * (double)(now - chat_tokens_t) / 1e9;
        if (chat_tokens > burst)
            chat_tokens = burst;
        chat_tokens_t = now;
    }
    for (int j = 0; j < K; j++) {
        int k = (chat_rr + j) % K;
        struct conn *c = &((struct conn *)scratch)[0]; /* placeholder, replaced below */
        (void)c;
    }
}
