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
    int port2;          /* chat: the port of a second node, or 0 */
    long extra_pids[4]; /* more server processes whose CPU is sampled */
    int n_extra;
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
struct hist {
    uint64_t b[H_BUCKETS];
    uint64_t count, max;
};
/* Every latency; and, with --port2, those of the clients of the second
 * node (lines sent to the first: the cross-node latency). */
static struct hist lat, lat_far;

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

static void hist_add(struct hist *h, uint64_t ns)
{
    h->b[hist_index(ns)]++;
    h->count++;
    if (ns > h->max)
        h->max = ns;
}

/* The q-quantile in microseconds (0 when empty). */
static double hist_quantile_us(const struct hist *h, double q)
{
    if (!h->count)
        return 0;
    uint64_t target = (uint64_t)ceil(q * (double)h->count);
    if (target < 1)
        target = 1;
    uint64_t cum = 0;
    for (unsigned i = 0; i < H_BUCKETS; i++) {
        cum += h->b[i];
        if (cum >= target) {
            double v = hist_value(i);
            if (v > (double)h->max)
                v = (double)h->max;
            return v / 1000.0;
        }
    }
    return (double)h->max / 1000.0;
}

/* ------------------------------------------------------------------ */
/* Server sampling through /proc                                      */
/* ------------------------------------------------------------------ */

/* utime+stime of one process in seconds, or -1. */
static double proc_own_cpu_seconds(long pid)
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

/* utime+stime of a process and of its descendants still running (a server
   with worker processes: netlab --workers), in seconds, or -1. */
static double proc_cpu_seconds_depth(long pid, int depth)
{
    double total = proc_own_cpu_seconds(pid);
    if (total < 0 || depth > 4)
        return total;
    char path[96], buf[4096];
    snprintf(path, sizeof path, "/proc/%ld/task/%ld/children", pid, pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return total;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, " \n", &save); t; t = strtok_r(NULL, " \n", &save)) {
        double child = proc_cpu_seconds_depth(strtol(t, NULL, 10), depth + 1);
        if (child > 0)
            total += child;
    }
    return total;
}

static double proc_cpu_seconds(long pid)
{
    return proc_cpu_seconds_depth(pid, 0);
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
static struct sockaddr_storage srv_addr, srv_addr2;
static socklen_t srv_addrlen;
static int srv_family;
static enum phase phase = PH_CONNECT;
static char *scratch;        /* shared receive buffer */
static struct conn *conns;   /* the connections / sockets of the run */
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
    uint64_t deliv_far_win;  /* chat: of which to the second node's clients */
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
        hist_add(&lat, now - c->t_sent);
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

/* chat with --port2: receivers of odd index are the second node's
 * clients; the senders and the other receivers, the first node's. */
static int on_second_node(const struct conn *c)
{
    return opt.port2 && c->idx >= opt.senders && (c->idx & 1);
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
        hist_add(&lat, now - t);
        if (on_second_node(c)) {
            st.deliv_far_win++;
            hist_add(&lat_far, now - t);
        }
    }
    if (c->idx == opt.conns - 1 && sender < (uint64_t)opt.senders &&
        seq > chat_seen_seq[sender]) {
        chat_seen_seq[sender] = seq;
        chat_progress_t[sender] = now;
    }
}

/* chat: build and send line `seq` of sender c. */
static void chat_send(struct conn *c, uint64_t seq, uint64_t now)
{
    int h = snprintf(c->out, c->out_cap, "@T:%d:%llu:%llu;", c->idx,
                     (unsigned long long)seq, (unsigned long long)now);
    size_t len = (size_t)h;
    size_t want = (size_t)opt.size - 1;  /* the line without "\n" */
    while (len < want && len + 1 < c->out_cap)
        c->out[len++] = 'x';
    c->out[len++] = '\n';
    c->out_len = (uint32_t)len;
    c->out_off = 0;
    st.total_sent++;
    if (phase == PH_MEASURE)
        st.sent_win++;
    flush_out(c);
}

/* chat: let every sender send whatever the window and the rate allow. */
static void chat_pump(uint64_t now)
{
    if (phase != PH_WARMUP && phase != PH_MEASURE)
        return;
    int K = opt.senders;
    if (opt.rate > 0) {                  /* token bucket over all senders */
        double burst = opt.rate / 100 > K ? opt.rate / 100 : K;
        chat_tokens += opt.rate * (double)(now - chat_tokens_t) / 1e9;
        if (chat_tokens > burst)
            chat_tokens = burst;
        chat_tokens_t = now;
    }
    for (int j = 0; j < K; j++) {
        int k = (chat_rr + j) % K;
        struct conn *c = &conns[k];
        while (c->state == ST_UP && c->out_off >= c->out_len) {
            if (opt.window > 0 &&
                chat_sent_seq[k] - chat_seen_seq[k] >= (uint64_t)opt.window) {
                /* The observer has not seen this sender's lines for 2 s:
                 * assume they were lost and open the window again. */
                if (now - chat_progress_t[k] > 2000000000ULL) {
                    chat_seen_seq[k] = chat_sent_seq[k];
                    chat_progress_t[k] = now;
                    st.stalls++;
                    continue;
                }
                break;
            }
            if (opt.rate > 0 && chat_tokens < 1)
                goto out;
            if (st.total_sent >= opt.max_requests)
                goto out;
            if (opt.rate > 0)
                chat_tokens -= 1;
            if (chat_sent_seq[k] == chat_seen_seq[k])
                chat_progress_t[k] = now;   /* the window starts afresh */
            chat_send(c, ++chat_sent_seq[k], now);
        }
    }
out:
    chat_rr = (chat_rr + 1) % K;
}

/* ------------------------------------------------------------------ */
/* Readiness handlers                                                 */
/* ------------------------------------------------------------------ */

/* udp: read every datagram waiting on c. */
static void udp_readable(struct conn *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, scratch, SCRATCH_SIZE, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                st.errors++;      /* e.g. ECONNREFUSED from an ICMP error */
            return;
        }
        uint64_t now = now_ns();
        if (c->busy && (size_t)n == c->out_len && memcmp(scratch, c->out, (size_t)n) == 0) {
            complete_request(c, now);
            continue;
        }
        /* A reply to one of the last datagrams given up on? */
        int late = 0;
        if ((size_t)n == (size_t)opt.size) {
            char *tmp = scratch + SCRATCH_SIZE / 2;
            for (uint64_t j = 1; j <= 16 && j < c->seq + (c->busy ? 0 : 1); j++) {
                gen_payload(tmp, (size_t)n, c->idx, c->seq + (c->busy ? 0 : 1) - j);
                if (memcmp(tmp, scratch, (size_t)n) == 0) {
                    late = 1;
                    break;
                }
            }
        }
        if (late) {
            st.late++;
        } else {
            static int reported;
            if (reported++ < 5)
                fprintf(stderr, "loadgen: udp socket %d: unexpected datagram (%zd bytes)\n",
                        c->idx, n);
            st.mismatches++;
        }
    }
}

/* udp: give up on datagrams unanswered for --timeout-ms and re-send. */
static void udp_check_timeouts(uint64_t now)
{
    uint64_t limit = (uint64_t)opt.timeout_ms * 1000000ULL;
    for (int i = 0; i < opt.conns; i++) {
        struct conn *c = &conns[i];
        if (c->busy && now - c->t_sent > limit) {
            if (phase == PH_MEASURE)
                st.lost++;
            c->busy = 0;
            st.inflight--;
            if (phase == PH_WARMUP || phase == PH_MEASURE)
                issue_request(c, now);
        }
    }
}

/* TCP: data (or EOF / error) is waiting on c. */
static void tcp_readable(struct conn *c)
{
    size_t want = SCRATCH_SIZE;
    if (opt.mode == M_ECHO && c->state == ST_UP && c->busy)
        want = (size_t)opt.size - c->in_got;   /* never read past the echo */
    ssize_t n = recv(c->fd, scratch, want, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        conn_fail(c, "recv", errno);
        return;
    }
    if (n == 0) {
        conn_fail(c, "closed by the server", 0);
        return;
    }
    uint64_t now = now_ns();
    if (c->state == ST_AWAIT) {         /* the server's first bytes */
        set_state(c, ST_UP);
        if (opt.mode == M_CHAT)
            feed_lines(c, scratch, (size_t)n, chat_line, now);
        return;
    }
    switch (opt.mode) {
    case M_ECHO:
        if (!c->busy || memcmp(scratch, c->out + c->in_got, (size_t)n) != 0) {
            conn_mismatch(c);
            return;
        }
        c->in_got += (uint32_t)n;
        if (c->in_got == (uint32_t)opt.size)
            complete_request(c, now);
        break;
    case M_LINE:
        feed_lines(c, scratch, (size_t)n, line_reply, now);
        break;
    case M_CHAT:
        feed_lines(c, scratch, (size_t)n, chat_line, now);
        break;
    default:                            /* idle: discard */
        break;
    }
}

/* ------------------------------------------------------------------ */
/* Connecting                                                         */
/* ------------------------------------------------------------------ */

/* Expand --first-line for client idx into c->out and start sending it. */
static void send_first_line(struct conn *c)
{
    int n = snprintf(c->out, c->out_cap, opt.first_line, c->idx);
    if (n < 0)
        n = 0;
    if ((uint32_t)n >= c->out_cap)
        n = (int)c->out_cap - 1;
    c->out_len = (uint32_t)n;
    c->out_off = 0;
    flush_out(c);
}

/* The TCP handshake of c completed. */
static void on_connected(struct conn *c)
{
    set_events(c, EPOLLIN);
    if (opt.first_line)
        send_first_line(c);
    if (c->state == ST_DEAD)
        return;
    set_state(c, opt.await_reply ? ST_AWAIT : ST_UP);
}

/* Start a non-blocking connect for c. */
static void start_connect(struct conn *c)
{
    static int reported;
    c->fd = socket(srv_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        if (reported++ < 3)
            fprintf(stderr, "loadgen: socket: %s\n", strerror(errno));
        st.failed++;
        st.errors++;
        c->state = ST_DEAD;
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->state = ST_CONNECTING;
    st.pending++;
    c->events = EPOLLOUT | EPOLLIN;
    struct epoll_event e = {.events = c->events, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &e);
    const struct sockaddr_storage *to = on_second_node(c) ? &srv_addr2 : &srv_addr;
    if (connect(c->fd, (const struct sockaddr *)to, srv_addrlen) == 0)
        on_connected(c);
    else if (errno != EINPROGRESS)
        conn_fail(c, "connect", errno);
}

/* Dispatch one epoll event. */
static void on_event(struct conn *c, uint32_t ev)
{
    if (c->state == ST_DEAD || c->state == ST_FREE)
        return;
    if (opt.mode == M_UDP) {
        if (ev & (EPOLLIN | EPOLLERR))
            udp_readable(c);
        return;
    }
    if (c->state == ST_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err)
            conn_fail(c, "connect", err);
        else if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            on_connected(c);
        return;
    }
    if ((ev & EPOLLOUT) && flush_out(c) < 0)
        return;
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
        tcp_readable(c);
}

/* Wait up to timeout_ms for events and handle them. */
static void poll_once(int timeout_ms)
{
    struct epoll_event evs[512];
    int n = epoll_wait(epfd, evs, 512, timeout_ms);
    for (int i = 0; i < n; i++)
        on_event(evs[i].data.ptr, evs[i].events);
}

/* Open n connections of arr, at most MAX_PENDING_CONNECTS at a time, until
 * all are established or failed, or the deadline passes. */
static void connect_all(struct conn *arr, int n, uint64_t deadline)
{
    int next = 0;
    for (;;) {
        while (next < n && st.pending < MAX_PENDING_CONNECTS)
            start_connect(&arr[next++]);
        if (next == n && st.pending == 0)
            break;
        uint64_t now = now_ns();
        if (now >= deadline)
            break;
        uint64_t left_ms = (deadline - now) / 1000000 + 1;
        poll_once(left_ms < 50 ? (int)left_ms : 50);
    }
    /* Whatever has not made it by now has failed. */
    for (int i = 0; i < n; i++) {
        if (i >= next) {
            arr[i].state = ST_DEAD;
            st.failed++;
            st.errors++;
        } else if (in_connect_states(arr[i].state)) {
            conn_fail(&arr[i], "not established within --connect-timeout", 0);
        }
    }
}

/* Allocate the buffers of n connections. */
static struct conn *alloc_conns(int n)
{
    struct conn *arr = xcalloc((size_t)n, sizeof *arr);
    size_t out_cap = (size_t)opt.size + 128;
    size_t part_cap = 0;
    if (opt.mode == M_LINE)
        part_cap = (size_t)opt.size + 4096;
    else if (opt.mode == M_CHAT)
        part_cap = (size_t)opt.size + 1024;
    if (opt.first_line && strlen(opt.first_line) + 32 > out_cap)
        out_cap = strlen(opt.first_line) + 32;
    for (int i = 0; i < n; i++) {
        arr[i].fd = -1;
        arr[i].idx = i;
        arr[i].out_cap = (uint32_t)out_cap;
        arr[i].out = xcalloc(out_cap, 1);
        if (part_cap) {
            arr[i].part_cap = (uint32_t)part_cap;
            arr[i].part = xcalloc(part_cap, 1);
        }
    }
    return arr;
}

static void close_conns(struct conn *arr, int n)
{
    for (int i = 0; i < n; i++) {
        if (arr[i].fd >= 0) {
            epoll_ctl(epfd, EPOLL_CTL_DEL, arr[i].fd, NULL);
            if (opt.mode == M_UDP)
                close(arr[i].fd);
            else
                close_rst(arr[i].fd);
            arr[i].fd = -1;
        }
        arr[i].state = ST_DEAD;
    }
}

static void free_conns(struct conn *arr, int n)
{
    for (int i = 0; i < n; i++) {
        free(arr[i].out);
        free(arr[i].part);
    }
    free(arr);
}

/* udp: one connected socket per client. */
static void open_udp_sockets(void)
{
    for (int i = 0; i < opt.conns; i++) {
        struct conn *c = &conns[i];
        c->fd = socket(srv_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0 ||
            connect(c->fd, (struct sockaddr *)&srv_addr, srv_addrlen) < 0) {
            fprintf(stderr, "loadgen: udp socket %d: %s\n", i, strerror(errno));
            if (c->fd >= 0)
                close(c->fd);
            c->fd = -1;
            c->state = ST_DEAD;
            st.failed++;
            st.errors++;
            continue;
        }
        c->state = ST_UP;
        st.up++;
        c->events = EPOLLIN;
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &e);
    }
}

/* ------------------------------------------------------------------ */
/* The run: phases and the measured window                            */
/* ------------------------------------------------------------------ */

static uint64_t t_meas_start, t_meas_end;
static double connect_s;   /* how long the connect phase took */
static double srv_cpu0 = -1, srv_cpu1 = -1, lg_cpu0, lg_cpu1;
static double extra_cpu0[4], extra_cpu1[4];
static long rss_before = 0, rss_hold = 0;

static void enter_warmup(uint64_t now)
{
    phase = PH_WARMUP;
    if (opt.mode == M_ECHO || opt.mode == M_LINE || opt.mode == M_UDP)
        for (int i = 0; i < opt.conns; i++)
            issue_request(&conns[i], now);
    if (opt.mode == M_CHAT) {
        chat_tokens = 0;
        chat_tokens_t = now;
    }
}

static void enter_measure(uint64_t now)
{
    phase = PH_MEASURE;
    t_meas_start = now;
    lg_cpu0 = self_cpu_seconds();
    if (opt.server_pid)
        srv_cpu0 = proc_cpu_seconds(opt.server_pid);
    for (int i = 0; i < opt.n_extra; i++)
        extra_cpu0[i] = proc_cpu_seconds(opt.extra_pids[i]);
}

static void end_measure(uint64_t now)
{
    t_meas_end = now;
    lg_cpu1 = self_cpu_seconds();
    for (int i = 0; i < opt.n_extra; i++)
        extra_cpu1[i] = proc_cpu_seconds(opt.extra_pids[i]);
    if (opt.server_pid) {
        srv_cpu1 = proc_cpu_seconds(opt.server_pid);
        if (opt.mode == M_IDLE)
            rss_hold = proc_rss_kb(opt.server_pid);
    }
    phase = PH_DONE;
}

/* Drive the established connections through settle, warm-up and the
 * measured window; returns when the window is over. */
static void run_traffic(void)
{
    uint64_t t = now_ns();
    uint64_t settle_end = t + (opt.mode == M_CHAT ? sec_to_ns(opt.settle) : 0);
    uint64_t warm_end = settle_end + (opt.mode == M_IDLE ? 0 : sec_to_ns(opt.warmup));
    uint64_t meas_end = warm_end + sec_to_ns(opt.duration);
    int tick_ms = 100;
    if (opt.mode == M_UDP) {
        tick_ms = opt.timeout_ms / 4;
        if (tick_ms > 10)
            tick_ms = 10;
        if (tick_ms < 1)
            tick_ms = 1;
    } else if (opt.mode == M_CHAT) {
        tick_ms = opt.rate > 0 ? 1 : 10;
    }

    phase = PH_SETTLE;
    for (;;) {
        uint64_t now = now_ns();
        if (phase == PH_SETTLE && now >= settle_end)
            enter_warmup(now);
        if (phase == PH_WARMUP && now >= warm_end)
            enter_measure(now);
        if (phase == PH_MEASURE) {
            /* Ping-pong modes end early once nothing is in flight any more
             * (--max-requests reached, or every connection lost). */
            int drained = (opt.mode == M_ECHO || opt.mode == M_LINE ||
                           opt.mode == M_UDP) && st.inflight == 0;
            if (now >= meas_end || drained) {
                end_measure(now < meas_end ? now : meas_end);
                return;
            }
        }
        if (opt.mode == M_UDP)
            udp_check_timeouts(now);
        if (opt.mode == M_CHAT)
            chat_pump(now);
        uint64_t next = phase == PH_SETTLE ? settle_end
                      : phase == PH_WARMUP ? warm_end : meas_end;
        uint64_t left_ms = next > now ? (next - now + 999999) / 1000000 : 0;
        poll_once(left_ms < (uint64_t)tick_ms ? (int)left_ms : tick_ms);
    }
}

/* Idle mode with --server-pid: open and close a few connections so that
 * the server's one-time allocations happen before the RSS baseline. */
static void idle_warm_up(void)
{
    int n = opt.conns < IDLE_WARM_CONNS ? opt.conns : IDLE_WARM_CONNS;
    double limit = opt.connect_timeout < 10 ? opt.connect_timeout : 10;
    struct conn *arr = alloc_conns(n);
    connect_all(arr, n, now_ns() + sec_to_ns(limit));
    uint64_t until = now_ns() + 200000000ULL;   /* let the server settle */
    for (uint64_t now; (now = now_ns()) < until;)
        poll_once((int)((until - now) / 1000000) + 1);
    int ok = st.up;
    close_conns(arr, n);
    free_conns(arr, n);
    struct timespec ts = {0, 300000000L};        /* let it process the RSTs */
    nanosleep(&ts, NULL);
    rss_before = proc_rss_kb(opt.server_pid);
    printf("idle warm-up: %d/%d connections opened and closed; server VmRSS %ld kB\n",
           ok, n, rss_before);
    uint64_t errors = st.errors;
    memset(&st, 0, sizeof st);
    st.errors = errors;
}

/* ------------------------------------------------------------------ */
/* Command line                                                       */
/* ------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
"usage: loadgen MODE --port P [options]\n"
"\n"
"MODE: tcp-echo | tcp-line | udp | chat | idle\n"
"  tcp-echo  N connections ping-pong one S-byte message each (verified)\n"
"  tcp-line  one S-byte line (incl. \\n) each; any one line back that ends\n"
"            with the payload counts (e.g. \"[stamp] payload\\n\")\n"
"  udp       N sockets, one S-byte datagram in flight each; no reply within\n"
"            --timeout-ms = lost, then re-send\n"
"  chat      N clients; clients 0..K-1 send \"@T:<sender>:<seq>:<t_ns>;\" lines\n"
"            padded to S bytes; every client measures delivery latency\n"
"  idle      open N connections and hold them --duration seconds\n"
"\n"
"options:\n"
"  -p, --port P             server port (required)\n"
"  -H, --host ADDR          numeric loopback address (127.0.0.0/8 or ::1);\n"
"                           default 127.0.0.1\n"
"  -c, --conns N            connections / sockets / clients (10)\n"
"  -s, --size S             bytes per message; tcp-line and chat: the line\n"
"                           including \"\\n\" (64)\n"
"  -d, --duration SEC       measured window (5)\n"
"  -w, --warmup SEC         warm-up before the window (1; not in idle)\n"
"      --settle SEC         chat: pause after connecting, before sending (1)\n"
"      --port2 P            chat: a second node's port; receivers of odd index\n"
"                           connect there, and their latency (the cross-node\n"
"                           one) is reported apart (far_p50_us, far_p99_us)\n"
"      --extra-pid PID      sample this process's CPU too (repeatable, 4 at\n"
"                           most; RESULT extra_cpu=%%,%%,...)\n"
"  -k, --senders K          chat: senders, clients 0..K-1 (10; at most N-1)\n"
"  -W, --window W           chat: lines per sender not yet seen by the last\n"
"                           client (the observer); 0 = unlimited (8)\n"
"  -r, --rate R             chat: total lines/s over all senders; 0 = no\n"
"                           fixed rate (0)\n"
"  -f, --first-line FMT     sent first on each connection; one %%d = client\n"
"                           index; \\n \\r \\t \\\\ escapes (e.g. '/nick user%%d\\n')\n"
"  -A, --await-reply        count a connection established only once the\n"
"                           server sent a byte\n"
"  -S, --server-pid PID     sample the server's CPU, its children's included\n"
"                           (and in idle mode its RSS)\n"
"  -l, --label LABEL        label for the RESULT line (-)\n"
"  -t, --timeout-ms T       udp: reply timeout (200)\n"
"  -T, --connect-timeout S  limit for the whole connect phase (30)\n"
"  -m, --max-requests M     cap on requests / lines sent (50000000)\n"
"  -h, --help               this help\n"
"\n"
"The last line of output is \"RESULT key=value ...\".  Exit status: 0 ok,\n"
"1 errors, mismatches, failed connects or an empty window, 2 usage.\n");
}

static double parse_double(const char *name, const char *s, double min, double max)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < min || v > max)
        die_usage("--%s: expected a number from %g to %g, got '%s'", name, min, max, s);
    return v;
}

static long long parse_int(const char *name, const char *s, long long min, long long max)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        die_usage("--%s: expected a whole number from %lld to %lld, got '%s'",
                  name, min, max, s);
    return v;
}

/* Interpret backslash escapes and check the format has at most one
 * conversion, which must be %d. */
static char *parse_first_line(const char *s)
{
    size_t n = strlen(s);
    char *out = xcalloc(n + 1, 1), *o = out;
    for (const char *p = s; *p; p++) {
        if (*p != '\\' || !p[1]) {
            *o++ = *p;
            continue;
        }
        p++;
        switch (*p) {
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case '\\': *o++ = '\\'; break;
        default: *o++ = '\\'; *o++ = *p; break;
        }
    }
    *o = 0;
    int convs = 0;
    for (const char *p = out; *p; p++) {
        if (*p != '%')
            continue;
        if (p[1] == '%') {
            p++;
            continue;
        }
        if (p[1] != 'd' || ++convs > 1)
            die_usage("--first-line: only one %%d (and %%%%) may appear");
        p++;
    }
    return out;
}

/* Resolve --host, refusing anything but a numeric loopback address. */
static void set_target(void)
{
    memset(&srv_addr, 0, sizeof srv_addr);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&srv_addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&srv_addr;
    if (inet_pton(AF_INET, opt.host, &a4->sin_addr) == 1) {
        if ((ntohl(a4->sin_addr.s_addr) >> 24) != 127)
            die_usage("refusing %s: only loopback addresses (127.0.0.0/8, ::1) are allowed",
                      opt.host);
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)opt.port);
        srv_family = AF_INET;
        srv_addrlen = sizeof *a4;
    } else if (inet_pton(AF_INET6, opt.host, &a6->sin6_addr) == 1) {
        if (!IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr))
            die_usage("refusing %s: only loopback addresses (127.0.0.0/8, ::1) are allowed",
                      opt.host);
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)opt.port);
        srv_family = AF_INET6;
        srv_addrlen = sizeof *a6;
    } else {
        die_usage("refusing '%s': give a numeric loopback address (127.0.0.0/8 or ::1)",
                  opt.host);
    }
    srv_addr2 = srv_addr;
    if (srv_family == AF_INET)
        ((struct sockaddr_in *)&srv_addr2)->sin_port = htons((uint16_t)opt.port2);
    else
        ((struct sockaddr_in6 *)&srv_addr2)->sin6_port = htons((uint16_t)opt.port2);
}

static void parse_args(int argc, char **argv)
{
    enum { O_SETTLE = 1000, O_PORT2, O_EXTRA_PID };
    static const struct option longopts[] = {
        {"port", required_argument, 0, 'p'},
        {"host", required_argument, 0, 'H'},
        {"conns", required_argument, 0, 'c'},
        {"size", required_argument, 0, 's'},
        {"duration", required_argument, 0, 'd'},
        {"warmup", required_argument, 0, 'w'},
        {"settle", required_argument, 0, O_SETTLE},
        {"port2", required_argument, 0, O_PORT2},
        {"extra-pid", required_argument, 0, O_EXTRA_PID},
        {"senders", required_argument, 0, 'k'},
        {"window", required_argument, 0, 'W'},
        {"rate", required_argument, 0, 'r'},
        {"first-line", required_argument, 0, 'f'},
        {"await-reply", no_argument, 0, 'A'},
        {"server-pid", required_argument, 0, 'S'},
        {"label", required_argument, 0, 'l'},
        {"timeout-ms", required_argument, 0, 't'},
        {"connect-timeout", required_argument, 0, 'T'},
        {"max-requests", required_argument, 0, 'm'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "p:H:c:s:d:w:k:W:r:f:AS:l:t:T:m:h",
                             longopts, NULL)) != -1) {
        switch (ch) {
        case 'p': opt.port = (int)parse_int("port", optarg, 1, 65535); break;
        case 'H': opt.host = optarg; break;
        case 'c': opt.conns = (int)parse_int("conns", optarg, 1, 1000000); break;
        case 's': opt.size = (int)parse_int("size", optarg, 1, 16 << 20); break;
        case 'd': opt.duration = parse_double("duration", optarg, 0.001, 86400); break;
        case 'w': opt.warmup = parse_double("warmup", optarg, 0, 86400); break;
        case O_SETTLE: opt.settle = parse_double("settle", optarg, 0, 3600); break;
        case O_PORT2: opt.port2 = (int)parse_int("port2", optarg, 1, 65535); break;
        case O_EXTRA_PID:
            if (opt.n_extra == 4)
                die_usage("--extra-pid: at most 4");
            opt.extra_pids[opt.n_extra++] = (long)parse_int("extra-pid", optarg, 1, 1LL << 31);
            break;
        case 'k': opt.senders = (int)parse_int("senders", optarg, 1, 1000000); break;
        case 'W': opt.window = (int)parse_int("window", optarg, 0, 1000000000); break;
        case 'r': opt.rate = parse_double("rate", optarg, 0, 1e9); break;
        case 'f': opt.first_line = parse_first_line(optarg); break;
        case 'A': opt.await_reply = 1; break;
        case 'S': opt.server_pid = (long)parse_int("server-pid", optarg, 1, 1LL << 31); break;
        case 'l': opt.label = optarg; break;
        case 't': opt.timeout_ms = (int)parse_int("timeout-ms", optarg, 1, 3600000); break;
        case 'T': opt.connect_timeout = parse_double("connect-timeout", optarg, 0.001, 86400); break;
        case 'm': opt.max_requests = (uint64_t)parse_int("max-requests", optarg, 1, 1LL << 62); break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind != argc - 1)
        die_usage("give exactly one MODE (tcp-echo, tcp-line, udp, chat, idle); see --help");
    int found = 0;
    for (int m = 0; m <= M_IDLE; m++)
        if (strcmp(argv[optind], mode_names[m]) == 0) {
            opt.mode = (enum mode)m;
            found = 1;
        }
    if (!found)
        die_usage("unknown mode '%s' (tcp-echo, tcp-line, udp, chat, idle)", argv[optind]);
    if (!opt.port)
        die_usage("--port is required");
    if (strchr(opt.label, ' ') || !*opt.label)
        die_usage("--label must be non-empty and without spaces");
    if (opt.mode == M_LINE && opt.size < 2)
        die_usage("tcp-line needs --size of at least 2 (payload + \\n)");
    if (opt.mode == M_UDP && opt.size > 65507)
        die_usage("udp: --size must be at most 65507");
    if (opt.mode == M_CHAT) {
        if (opt.conns < 2)
            die_usage("chat needs --conns of at least 2 (senders + the observer)");
        if (opt.senders > opt.conns - 1) {
            fprintf(stderr, "loadgen: --senders lowered to %d (the last client only observes)\n",
                    opt.conns - 1);
            opt.senders = opt.conns - 1;
        }
    }
    if (opt.first_line && (opt.mode == M_ECHO || opt.mode == M_LINE || opt.mode == M_UDP)) {
        fprintf(stderr, "loadgen: --first-line is only used in chat and idle modes; ignored\n");
        opt.first_line = NULL;
    }
    if (opt.await_reply && (opt.mode == M_ECHO || opt.mode == M_LINE || opt.mode == M_UDP)) {
        fprintf(stderr, "loadgen: --await-reply is only used in chat and idle modes; ignored\n");
        opt.await_reply = 0;
    }
    set_target();
}

/* Make room for the sockets: raise the soft RLIMIT_NOFILE up to the hard
 * limit if needed. */
static void raise_nofile(void)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)opt.conns + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= need)
        return;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
        die_usage("%d connections need %llu file descriptors; the hard limit is %llu",
                  opt.conns, (unsigned long long)need, (unsigned long long)rl.rlim_max);
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        die_usage("cannot raise RLIMIT_NOFILE: %s", strerror(errno));
}

/* ------------------------------------------------------------------ */
/* Report                                                             */
/* ------------------------------------------------------------------ */

static int report(void)
{
    int N = opt.conns;
    double dur = t_meas_end > t_meas_start ? (double)(t_meas_end - t_meas_start) / 1e9 : 0;
    double rps = 0, dlps = 0, slps = 0, ratio = 0, srv_cpu = 0, lg_cpu = 0;
    long long bpc = 0;
    if (dur > 0) {
        rps = (double)(opt.mode == M_CHAT ? st.deliv_win : st.replies) / dur;
        lg_cpu = (lg_cpu1 - lg_cpu0) / dur * 100;
        if (srv_cpu0 >= 0 && srv_cpu1 >= 0)
            srv_cpu = (srv_cpu1 - srv_cpu0) / dur * 100;
        if (opt.mode == M_CHAT) {
            dlps = (double)st.deliv_win / dur;
            slps = (double)st.sent_win / dur;
            if (st.sent_win)
                ratio = (double)st.deliv_win / ((double)st.sent_win * (N - 1));
        }
    }
    if (opt.mode == M_IDLE && opt.server_pid && rss_before > 0 && rss_hold > 0)
        bpc = (long long)(rss_hold - rss_before) * 1024 / N;
    else
        rss_before = rss_hold = 0;
    if (opt.server_pid && srv_cpu0 < 0)
        fprintf(stderr, "loadgen: could not read /proc/%ld (server CPU/RSS not sampled)\n",
                opt.server_pid);

    double p50 = hist_quantile_us(&lat, 0.50), p90 = hist_quantile_us(&lat, 0.90),
           p99 = hist_quantile_us(&lat, 0.99), p999 = hist_quantile_us(&lat, 0.999),
           pmax = (double)lat.max / 1000.0;
    double far_p50 = hist_quantile_us(&lat_far, 0.50),
           far_p99 = hist_quantile_us(&lat_far, 0.99);
    char extra[128] = "-";
    for (int i = 0, n = 0; i < opt.n_extra; i++) {
        double pct = dur > 0 && extra_cpu0[i] >= 0 && extra_cpu1[i] >= 0
                         ? (extra_cpu1[i] - extra_cpu0[i]) / dur * 100 : 0;
        n += snprintf(extra + n, sizeof extra - (size_t)n, "%s%.1f", i ? "," : "", pct);
    }

    printf("window: %.3f s, %s %llu, rate %.1f/s\n", dur,
           opt.mode == M_CHAT ? "deliveries" : opt.mode == M_IDLE ? "held" : "replies",
           (unsigned long long)(opt.mode == M_CHAT ? st.deliv_win
                                : opt.mode == M_IDLE ? (uint64_t)st.up : st.replies),
           rps);
    if (opt.mode != M_IDLE)
        printf("latency us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (%llu samples)\n",
               p50, p90, p99, p999, pmax, (unsigned long long)lat.count);
    if (opt.mode == M_CHAT && opt.port2)
        printf("second node's clients: %llu deliveries, latency us: p50 %.1f  p99 %.1f\n",
               (unsigned long long)st.deliv_far_win, far_p50, far_p99);
    if (opt.n_extra)
        printf("cpu of the other server processes: %s %%\n", extra);
    if (opt.mode == M_CHAT)
        printf("chat: sent %.1f lines/s, delivered %.1f lines/s, ratio %.4f, "
               "window resets %llu, overlong lines %llu\n", slps, dlps, ratio,
               (unsigned long long)st.stalls, (unsigned long long)st.overlong);
    if (opt.mode == M_UDP)
        printf("udp: lost %llu, late replies %llu\n",
               (unsigned long long)st.lost, (unsigned long long)st.late);
    if (opt.mode == M_IDLE && opt.server_pid)
        printf("server VmRSS: %ld kB before, %ld kB holding %d: %lld bytes/connection\n",
               rss_before, rss_hold, st.up, bpc);
    printf("cpu: server %.1f%%, loadgen %.1f%%; errors %llu, mismatches %llu\n",
           srv_cpu, lg_cpu, (unsigned long long)st.errors,
           (unsigned long long)st.mismatches);

    printf("RESULT mode=%s label=%s conns=%d conn_ok=%d size=%d dur_s=%.3f rps=%.1f "
           "p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f "
           "errors=%llu mismatches=%llu lost=%llu srv_cpu=%.1f lg_cpu=%.1f "
           "delivered_lps=%.1f sent_lps=%.1f delivery_ratio=%.4f "
           "srv_rss_before_kb=%ld srv_rss_kb=%ld bytes_per_conn=%lld "
           "connect_s=%.3f far_deliveries=%llu far_p50_us=%.1f far_p99_us=%.1f "
           "extra_cpu=%s\n",
           mode_names[opt.mode], opt.label, N, st.up, opt.size, dur, rps,
           p50, p90, p99, p999, pmax,
           (unsigned long long)st.errors, (unsigned long long)st.mismatches,
           (unsigned long long)st.lost, srv_cpu, lg_cpu, dlps, slps, ratio,
           rss_before, rss_hold, bpc, connect_s,
           (unsigned long long)st.deliv_far_win, far_p50, far_p99, extra);
    fflush(stdout);

    int empty = dur <= 0 ||
                (opt.mode == M_CHAT && st.deliv_win == 0) ||
                (opt.mode != M_CHAT && opt.mode != M_IDLE && st.replies == 0);
    return (st.errors || st.mismatches || st.up < N || empty) ? 1 : 0;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    setvbuf(stdout, NULL, _IOLBF, 0);
    scratch = xcalloc(SCRATCH_SIZE, 1);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        perror("loadgen: epoll_create1");
        return 1;
    }
    run_t0 = now_ns();
    if (opt.mode == M_CHAT) {
        chat_sent_seq = xcalloc((size_t)opt.senders, sizeof *chat_sent_seq);
        chat_seen_seq = xcalloc((size_t)opt.senders, sizeof *chat_seen_seq);
        chat_progress_t = xcalloc((size_t)opt.senders, sizeof *chat_progress_t);
    }
    printf("loadgen %s -> %s port %d: conns %d, size %d, warm-up %gs, window %gs\n",
           mode_names[opt.mode], opt.host, opt.port, opt.conns, opt.size,
           opt.mode == M_IDLE ? 0 : opt.warmup, opt.duration);

    if (opt.mode == M_IDLE && opt.server_pid)
        idle_warm_up();

    conns = alloc_conns(opt.conns);
    uint64_t t0 = now_ns();
    if (opt.mode == M_UDP)
        open_udp_sockets();
    else
        connect_all(conns, opt.conns, t0 + sec_to_ns(opt.connect_timeout));
    connect_s = (double)(now_ns() - t0) / 1e9;
    printf("connected: %d/%d in %.3f s (%d failed)\n", st.up, opt.conns,
           connect_s, st.failed);

    if (st.up > 0)
        run_traffic();
    close_conns(conns, opt.conns);
    int rc = report();
    free_conns(conns, opt.conns);
    return rc;
}
