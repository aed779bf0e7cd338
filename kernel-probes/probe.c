// SPDX-License-Identifier: GPL-2.0-only
/*
 * skbdiff-probe: makes the syscalls of one skbdiff case at a time inside the
 * kernel under test, in a fresh network namespace per case, and reports every
 * return value. The wire protocol is harness/probe/PROTOCOL.md
 * (`skbdiff-probe/3`); this file follows it and nothing else.
 *
 * Self-contained on purpose (runs in busybox guests): raw rtnetlink for
 * links, addresses, routes and neighbours; SIOCETHTOOL for offloads;
 * /proc/sys for sysctls. Build: make -C kernel-probes (static).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/ethtool.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <linux/veth.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>

#define PROTO_VERSION "skbdiff-probe/3"
#define FENCE_ETHERTYPE 0x88b5
#define LAB_TX_ADDR 0xc6120001u   /* 198.18.0.1 */
#define LAB_PEER_ADDR 0xc6120002u /* 198.18.0.2 */
#define LAB_SUBNET 0xc6120000u    /* 198.18.0.0/24 */
#define LAB_PREFIX 24
static const uint8_t peer_mac[6] = { 0x02, 0x53, 0x4b, 0x42, 0x00, 0x02 };
static const uint8_t tx_mac_veth[6] = { 0x02, 0x53, 0x4b, 0x42, 0x00, 0x01 };

/* ---- errors ------------------------------------------------------------ */

/* A lab fault: the message goes out as `ERR <seq> <msg>`. */
static char lab_err[512];

static int fault(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fault(const char *fmt, ...)
{
	va_list ap;
	if (lab_err[0])
		return -1; /* keep the first, it is the cause */
	va_start(ap, fmt);
	vsnprintf(lab_err, sizeof(lab_err), fmt, ap);
	va_end(ap);
	for (char *p = lab_err; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return -1;
}

static const char *errname(int e)
{
	const char *n = strerrorname_np(e);
	static char buf[32];
	if (n)
		return n;
	snprintf(buf, sizeof(buf), "E%d", e);
	return buf;
}

/* ---- rtnetlink --------------------------------------------------------- */

struct nlreq {
	struct nlmsghdr *h;
	char buf[4096] __attribute__((aligned(NLMSG_ALIGNTO)));
};

static void *nl_start(struct nlreq *r, int type, int flags, size_t hdrlen)
{
	memset(r->buf, 0, sizeof(r->buf));
	r->h = (struct nlmsghdr *)r->buf;
	r->h->nlmsg_len = NLMSG_LENGTH(hdrlen);
	r->h->nlmsg_type = type;
	r->h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	return NLMSG_DATA(r->h);
}

static struct rtattr *nl_put(struct nlreq *r, int type, const void *data, size_t len)
{
	struct rtattr *a = (struct rtattr *)(r->buf + NLMSG_ALIGN(r->h->nlmsg_len));
	a->rta_type = type;
	a->rta_len = RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(a), data, len);
	r->h->nlmsg_len = NLMSG_ALIGN(r->h->nlmsg_len) + RTA_ALIGN(a->rta_len);
	return a;
}

static void nl_put_u32(struct nlreq *r, int type, uint32_t v) { nl_put(r, type, &v, 4); }
static struct rtattr *nl_nest(struct nlreq *r, int type) { return nl_put(r, type, NULL, 0); }
static void nl_nest_end(struct nlreq *r, struct rtattr *a)
{
	a->rta_len = (unsigned short)(r->buf + r->h->nlmsg_len - (char *)a);
}

static int nl_open(void)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -1;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Sends one request and reads until its ack: 0, or -errno from the kernel.
 * `on_reply`, if given, sees every other message answering it (a GET's reply).
 */
static int nl_exchange(int fd, struct nlreq *r, void (*on_reply)(const struct nlmsghdr *, void *), void *arg)
{
	static uint32_t seq;
	r->h->nlmsg_seq = ++seq;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	if (sendto(fd, r->buf, r->h->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	char rbuf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
	for (;;) {
		ssize_t n = recv(fd, rbuf, sizeof(rbuf), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)rbuf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != seq)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);
				return e->error;
			}
			if (on_reply)
				on_reply(h, arg);
		}
	}
}

static int nl_talk(int fd, struct nlreq *r) { return nl_exchange(fd, r, NULL, NULL); }

/*
 * RTM_NEWLINK on an existing link: MTU (0: keep), up/down (-1: keep), netns (-1: stay).
 * Up also sets IFF_NOARP: a case may send to any on-link address (a source-route
 * hop, a subnet address), and without ARP on the wire such a datagram still
 * leaves tx (to tx's own MAC) instead of waiting for a reply nobody sends.
 * The peer 198.18.0.2 keeps its permanent neighbour entry.
 */
static int link_set(int nl, int ifindex, unsigned mtu, int up, int nsfd)
{
	struct nlreq r;
	struct ifinfomsg *ifi = nl_start(&r, RTM_NEWLINK, 0, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	if (up >= 0) {
		ifi->ifi_change = IFF_UP | IFF_NOARP;
		ifi->ifi_flags = up ? IFF_UP | IFF_NOARP : 0;
	}
	if (mtu)
		nl_put_u32(&r, IFLA_MTU, mtu);
	if (nsfd >= 0)
		nl_put_u32(&r, IFLA_NET_NS_FD, (uint32_t)nsfd);
	return nl_talk(nl, &r);
}

/* IF_OPER_UP of include/uapi/linux/if.h (which clashes with <net/if.h>). */
#define OPER_UP 6

static void read_operstate(const struct nlmsghdr *h, void *arg)
{
	if (h->nlmsg_type != RTM_NEWLINK)
		return;
	int len = (int)IFLA_PAYLOAD(h);
	for (struct rtattr *a = IFLA_RTA((struct ifinfomsg *)NLMSG_DATA(h)); RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == IFLA_OPERSTATE)
			*(int *)arg = *(uint8_t *)RTA_DATA(a);
}

/* IFLA_OPERSTATE of a link (RTM_GETLINK), or -errno. */
static int link_operstate(int fd, int ifindex)
{
	struct nlreq r;
	struct ifinfomsg *ifi = nl_start(&r, RTM_GETLINK, 0, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	int st = -ENODATA;
	int e = nl_exchange(fd, &r, read_operstate, &st);
	return e < 0 ? e : st;
}

/*
 * After tx goes up, linkwatch (a workqueue) sets its operstate and then sends
 * NETDEV_CHANGE, on which fib_netdev_event flushes the netns's route cache
 * (rt_cache_flush: every cached dst becomes stale). Left to race the case, that
 * flush could land between connect() and a send and make the kernel re-route a
 * connected socket's send (udp_sendmsg's sk_dst_check), which changes what it
 * sends. So wait for IF_OPER_UP; the RTNL-taking requests after this one
 * (address, route) run only once linkwatch_do_dev, under RTNL, is done.
 */
static int link_wait_oper_up(int fd, int ifindex, const char *name)
{
	int st = -1;
	for (int i = 0; i < 2000; i++) {
		st = link_operstate(fd, ifindex);
		if (st < 0)
			return fault("%s operstate (RTM_GETLINK): %s", name, strerror(-st));
		if (st == OPER_UP)
			return 0;
		usleep(500);
	}
	return fault("%s not operationally up 1 s after link up (IFLA_OPERSTATE %d)", name, st);
}

static int link_del(int nl, int ifindex)
{
	struct nlreq r;
	struct ifinfomsg *ifi = nl_start(&r, RTM_DELLINK, 0, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	return nl_talk(nl, &r);
}

/* ip link add tx address 02:53:4b:42:00:01 type veth peer name rx address 02:53:4b:42:00:02 */
static int veth_create(int nl, const char *a, const char *b)
{
	struct nlreq r;
	struct ifinfomsg *ifi = nl_start(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	nl_put(&r, IFLA_IFNAME, a, strlen(a) + 1);
	nl_put(&r, IFLA_ADDRESS, tx_mac_veth, 6);
	struct rtattr *li = nl_nest(&r, IFLA_LINKINFO);
	nl_put(&r, IFLA_INFO_KIND, "veth", 5);
	struct rtattr *data = nl_nest(&r, IFLA_INFO_DATA);
	struct rtattr *peer = nl_nest(&r, VETH_INFO_PEER);
	struct ifinfomsg pifi = { .ifi_family = AF_UNSPEC };
	/* the peer's ifinfomsg sits in the attribute payload before its own attributes */
	memcpy(r.buf + r.h->nlmsg_len, &pifi, sizeof(pifi));
	r.h->nlmsg_len += NLMSG_ALIGN(sizeof(pifi));
	nl_put(&r, IFLA_IFNAME, b, strlen(b) + 1);
	nl_put(&r, IFLA_ADDRESS, peer_mac, 6);
	nl_nest_end(&r, peer);
	nl_nest_end(&r, data);
	nl_nest_end(&r, li);
	return nl_talk(nl, &r);
}

/* ip addr add 198.18.0.1/24 dev tx noprefixroute */
static int addr_add(int nl, int ifindex)
{
	struct nlreq r;
	struct ifaddrmsg *ifa = nl_start(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = LAB_PREFIX;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = ifindex;
	uint32_t a = htonl(LAB_TX_ADDR);
	nl_put(&r, IFA_LOCAL, &a, 4);
	nl_put(&r, IFA_ADDRESS, &a, 4);
	nl_put_u32(&r, IFA_FLAGS, IFA_F_NOPREFIXROUTE);
	return nl_talk(nl, &r);
}

/* ip route add 198.18.0.0/24 dev tx scope link src 198.18.0.1 [mtu lock N] */
static int route_add(int nl, int ifindex, long route_mtu)
{
	struct nlreq r;
	struct rtmsg *rtm = nl_start(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, sizeof(*rtm));
	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = LAB_PREFIX;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_scope = RT_SCOPE_LINK;
	rtm->rtm_type = RTN_UNICAST;
	uint32_t dst = htonl(LAB_SUBNET), src = htonl(LAB_TX_ADDR);
	nl_put(&r, RTA_DST, &dst, 4);
	nl_put(&r, RTA_PREFSRC, &src, 4);
	nl_put_u32(&r, RTA_OIF, (uint32_t)ifindex);
	if (route_mtu >= 0) {
		struct rtattr *m = nl_nest(&r, RTA_METRICS);
		nl_put_u32(&r, RTAX_LOCK, 1u << RTAX_MTU);
		nl_put_u32(&r, RTAX_MTU, (uint32_t)route_mtu);
		nl_nest_end(&r, m);
	}
	return nl_talk(nl, &r);
}

/* ip neigh replace 198.18.0.2 lladdr 02:53:4b:42:00:02 nud permanent dev tx */
static int neigh_add(int nl, int ifindex)
{
	struct nlreq r;
	struct ndmsg *nd = nl_start(&r, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, sizeof(*nd));
	nd->ndm_family = AF_INET;
	nd->ndm_ifindex = ifindex;
	nd->ndm_state = NUD_PERMANENT;
	uint32_t a = htonl(LAB_PEER_ADDR);
	nl_put(&r, NDA_DST, &a, 4);
	nl_put(&r, NDA_LLADDR, peer_mac, 6);
	return nl_talk(nl, &r);
}

/* ---- small helpers ----------------------------------------------------- */

static int ifindex_of(int sock, const char *name)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(sock, SIOCGIFINDEX, &ifr) < 0)
		return -1;
	return ifr.ifr_ifindex;
}

/* Writes `val` to /proc/sys/<name with dots as slashes>: 0, -errno. */
static int sysctl_write(const char *name, const char *val, size_t len)
{
	char path[512];
	int n = snprintf(path, sizeof(path), "/proc/sys/%s", name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	for (char *p = path + 10; *p; p++)
		if (*p == '.')
			*p = '/';
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t w = write(fd, val, len);
	int e = w < 0 ? errno : 0;
	if (close(fd) < 0 && !e)
		e = errno;
	return -e;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes hex (`-` = empty) into a fresh buffer; -1 on bad input. */
static ssize_t unhex(const char *s, uint8_t **out)
{
	*out = NULL;
	if (strcmp(s, "-") == 0)
		return 0;
	size_t n = strlen(s);
	if (n % 2)
		return -1;
	uint8_t *b = malloc(n / 2 + 1);
	if (!b)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			free(b);
			return -1;
		}
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	*out = b;
	return (ssize_t)(n / 2);
}

static int parse_long(const char *s, long *v)
{
	char *end;
	errno = 0;
	*v = strtol(s, &end, 10);
	return (errno || end == s || *end) ? -1 : 0;
}

static int parse_ip4(const char *s, struct sockaddr_in *sin)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	return inet_pton(AF_INET, s, &sin->sin_addr) == 1 ? 0 : -1;
}

/* Comma-separated non-negative numbers (`-` = none). */
static int parse_list(const char *s, long **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (strcmp(s, "-") == 0)
		return 0;
	size_t cap = 1;
	for (const char *p = s; *p; p++)
		cap += *p == ',';
	long *v = calloc(cap, sizeof(long));
	if (!v)
		return -1;
	char *dup = strdup(s), *save = NULL;
	for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (parse_long(t, &v[*n]) < 0 || v[*n] < 0 || *n >= cap) {
			free(dup);
			free(v);
			return -1;
		}
		(*n)++;
	}
	free(dup);
	*out = v;
	return 0;
}

/* ---- ethtool features (ETH_SS_FEATURES by name) ------------------------ */

static char (*feat_names)[ETH_GSTRING_LEN];
static unsigned feat_count;

static int ethtool(int sock, const char *dev, void *cmd)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", dev);
	ifr.ifr_data = cmd;
	return ioctl(sock, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
}

/* The feature names are the kernel's netdev_features_strings: the same for every device. */
static int feat_load(int sock, const char *dev)
{
	if (feat_names)
		return 0;
	struct {
		struct ethtool_sset_info hdr;
		uint32_t buf[1];
	} ss = { .hdr = { .cmd = ETHTOOL_GSSET_INFO, .sset_mask = 1ull << ETH_SS_FEATURES } };
	int e = ethtool(sock, dev, &ss);
	if (e < 0)
		return fault("ethtool GSSET_INFO %s: %s", dev, strerror(-e));
	if (!ss.hdr.sset_mask)
		return fault("ethtool %s: no feature strings", dev);
	unsigned n = ss.buf[0];
	struct ethtool_gstrings *gs = calloc(1, sizeof(*gs) + (size_t)n * ETH_GSTRING_LEN);
	if (!gs)
		return fault("out of memory");
	gs->cmd = ETHTOOL_GSTRINGS;
	gs->string_set = ETH_SS_FEATURES;
	gs->len = n;
	e = ethtool(sock, dev, gs);
	if (e < 0) {
		free(gs);
		return fault("ethtool GSTRINGS %s: %s", dev, strerror(-e));
	}
	feat_names = calloc(n ? n : 1, ETH_GSTRING_LEN);
	memcpy(feat_names, gs->data, (size_t)n * ETH_GSTRING_LEN);
	for (unsigned i = 0; i < n; i++)
		feat_names[i][ETH_GSTRING_LEN - 1] = 0;
	feat_count = n;
	free(gs);
	return 0;
}

static int starts(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }
static int ends(const char *s, const char *p)
{
	size_t a = strlen(s), b = strlen(p);
	return a >= b && strcmp(s + a - b, p) == 0;
}

enum feat_group { FEAT_NONE, FEAT_CSUM, FEAT_GSO, FEAT_RXGRO };

/*
 * Which switch a feature name belongs to. Names a kernel lacks are simply not
 * in its string set (5.10 has no tx-gso-list on veth's hw_features, say).
 */
static enum feat_group feat_group_of(const char *n)
{
	if (starts(n, "tx-checksum-"))
		return FEAT_CSUM;
	if ((starts(n, "tx-") && ends(n, "-segmentation")) || strcmp(n, "tx-gso-list") == 0 ||
	    strcmp(n, "tx-gso-partial") == 0 || strcmp(n, "tx-udp-fragmentation") == 0)
		return FEAT_GSO;
	if (strcmp(n, "rx-gro") == 0 || strcmp(n, "rx-gro-list") == 0 || strcmp(n, "rx-udp-gro-forwarding") == 0 ||
	    strcmp(n, "rx-lro") == 0)
		return FEAT_RXGRO;
	return FEAT_NONE;
}

/* Features that must really be off when a switch is off (the rest follow them). */
static int feat_must_be_off(const char *n)
{
	return strcmp(n, "tx-checksum-ipv4") == 0 || strcmp(n, "tx-checksum-ip-generic") == 0 ||
	       strcmp(n, "tx-generic-segmentation") == 0 || strcmp(n, "tx-udp-segmentation") == 0 ||
	       strcmp(n, "tx-gso-list") == 0 || strcmp(n, "rx-gro") == 0;
}

/*
 * ethtool -K dev <every feature of the listed groups> on|off, then check
 * with ETHTOOL_GFEATURES: a switch asked off that stays on is a lab fault
 * (what is captured would not be what a wire carries); on is best effort.
 */
static int feat_set(int sock, const char *dev, int csum, int gso, int rxgro)
{
	if (feat_load(sock, dev) < 0)
		return -1;
	unsigned blocks = (feat_count + 31) / 32;
	size_t gsz = sizeof(struct ethtool_gfeatures) + blocks * sizeof(struct ethtool_get_features_block);
	size_t ssz = sizeof(struct ethtool_sfeatures) + blocks * sizeof(struct ethtool_set_features_block);
	struct ethtool_gfeatures *g = calloc(1, gsz);
	struct ethtool_sfeatures *s = calloc(1, ssz);
	int ret = 0;
	s->cmd = ETHTOOL_SFEATURES;
	s->size = blocks;
	for (unsigned i = 0; i < feat_count; i++) {
		int want;
		switch (feat_group_of(feat_names[i])) {
		case FEAT_CSUM: want = csum; break;
		case FEAT_GSO: want = gso; break;
		case FEAT_RXGRO: want = rxgro; break;
		default: continue;
		}
		if (want < 0)
			continue;
		s->features[i / 32].valid |= 1u << (i % 32);
		if (want)
			s->features[i / 32].requested |= 1u << (i % 32);
	}
	/* a positive return (ETHTOOL_F_UNSUPPORTED/WISH) is judged by the check below */
	int e = ethtool(sock, dev, s);
	if (e < 0) {
		ret = fault("ethtool SFEATURES %s: %s", dev, strerror(-e));
		goto out;
	}
	g->cmd = ETHTOOL_GFEATURES;
	g->size = blocks;
	e = ethtool(sock, dev, g);
	if (e < 0) {
		ret = fault("ethtool GFEATURES %s: %s", dev, strerror(-e));
		goto out;
	}
	for (unsigned i = 0; i < feat_count; i++) {
		int want;
		switch (feat_group_of(feat_names[i])) {
		case FEAT_CSUM: want = csum; break;
		case FEAT_GSO: want = gso; break;
		case FEAT_RXGRO: want = rxgro; break;
		default: continue;
		}
		int active = !!(g->features[i / 32].active & (1u << (i % 32)));
		if (want == 0 && active && feat_must_be_off(feat_names[i])) {
			ret = fault("ethtool %s: %s stays on (fixed by the driver)", dev, feat_names[i]);
			goto out;
		}
	}
out:
	free(g);
	free(s);
	return ret;
}

/*
 * Closing an AF_PACKET socket waits for an RCU grace period (packet_release:
 * synchronize_net), ~10 ms; a helper thread does it off the case's path.
 */
static int reaper_pipe[2] = { -1, -1 };

static void *reaper(void *arg)
{
	(void)arg;
	int fd;
	while (read(reaper_pipe[0], &fd, sizeof(fd)) == (ssize_t)sizeof(fd))
		close(fd);
	return NULL;
}

static void close_later(int fd)
{
	if (reaper_pipe[1] < 0 || write(reaper_pipe[1], &fd, sizeof(fd)) != (ssize_t)sizeof(fd))
		close(fd);
}

static void reaper_start(void)
{
	pthread_t t;
	if (pipe2(reaper_pipe, O_CLOEXEC) < 0)
		return;
	if (pthread_create(&t, NULL, reaper, NULL) != 0) {
		close(reaper_pipe[0]);
		close(reaper_pipe[1]);
		reaper_pipe[0] = reaper_pipe[1] = -1;
	}
}

/* ---- the lab ----------------------------------------------------------- */

static struct {
	int veth;          /* --lab veth: we own tx/rx */
	char tx[IFNAMSIZ];
	char rx[IFNAMSIZ]; /* "" in dev mode */
	int labns;         /* fd of the lab netns */
	int nl;            /* rtnetlink socket in the lab netns */
	int ioc;           /* ioctl socket in the lab netns */
} lab;

static int lab_make_veth(void)
{
	int idx = ifindex_of(lab.ioc, lab.tx);
	if (idx > 0)
		link_del(lab.nl, idx); /* left over from a killed probe: its peer goes too */
	int e = 0;
	for (int tries = 0; tries < 50; tries++) {
		e = veth_create(lab.nl, lab.tx, lab.rx);
		if (e != -EEXIST)
			break;
		/* a peer in a dying netns is still being unregistered */
		idx = ifindex_of(lab.ioc, lab.rx);
		if (idx > 0)
			link_del(lab.nl, idx);
		usleep(20000);
	}
	if (e < 0)
		return fault("create veth %s/%s: %s", lab.tx, lab.rx, strerror(-e));
	int rx = ifindex_of(lab.ioc, lab.rx);
	if (rx < 0)
		return fault("veth peer %s missing", lab.rx);
	/* rx: IPv6 off before it comes up, so it never sends (no RS, no MLD, no DAD) */
	char name[128];
	snprintf(name, sizeof(name), "net.ipv6.conf.%s.disable_ipv6", lab.rx);
	e = sysctl_write(name, "1", 1);
	if (e < 0 && e != -ENOENT)
		return fault("sysctl %s: %s", name, strerror(-e));
	e = feat_set(lab.ioc, lab.rx, -1, -1, 0);
	if (e < 0)
		return -1;
	e = link_set(lab.nl, rx, 65535, 1, -1);
	if (e < 0)
		return fault("rx mtu 65535 up: %s", strerror(-e));
	return 0;
}

/* Makes sure tx is in the lab netns (recreating the veth pair if it died with a case netns). */
static int lab_check(void)
{
	if (ifindex_of(lab.ioc, lab.tx) > 0)
		return 0;
	if (!lab.veth)
		return fault("%s is gone from the lab netns", lab.tx);
	return lab_make_veth();
}

/* ---- one case ---------------------------------------------------------- */

struct sockopt_req {
	long level, name;
	uint8_t *val;
	size_t len;
};

struct send_req {
	struct sockopt_req *opt; /* SENDOPT lines read before this SEND: made right before its sendmsg */
	size_t nopt;
	unsigned flags;
	int has_to;
	struct sockaddr_in to;
	uint8_t *payload;
	size_t len;
	long *iov;
	size_t niov;
	uint8_t *control;
	size_t clen;
	long *ifidx_at;
	size_t nifidx;
};

struct sysctl_req {
	char *name;
	uint8_t *val;
	size_t len;
};

static struct kase {
	int active;
	long seq;
	long mtu, route_mtu;
	int csum, gso;
	int have_net;
	struct sysctl_req *sysctl;
	size_t nsysctl;
	int have_socket;
	long domain, type, protocol;
	int has_caps;           /* a CAPS line: drop the network capabilities not in caps_mask */
	unsigned long caps_mask;
	struct sockopt_req *opt;
	size_t nopt;
	int has_bind, has_connect;
	struct sockaddr_in bind, connect;
	struct send_req *send;
	size_t nsend;
	struct sockopt_req *sendopt; /* SENDOPT lines waiting for their SEND */
	size_t nsendopt;
} kc;

static void case_reset(void)
{
	for (size_t i = 0; i < kc.nsysctl; i++) {
		free(kc.sysctl[i].name);
		free(kc.sysctl[i].val);
	}
	for (size_t i = 0; i < kc.nopt; i++)
		free(kc.opt[i].val);
	for (size_t i = 0; i < kc.nsendopt; i++)
		free(kc.sendopt[i].val);
	for (size_t i = 0; i < kc.nsend; i++) {
		for (size_t k = 0; k < kc.send[i].nopt; k++)
			free(kc.send[i].opt[k].val);
		free(kc.send[i].opt);
		free(kc.send[i].payload);
		free(kc.send[i].iov);
		free(kc.send[i].control);
		free(kc.send[i].ifidx_at);
	}
	free(kc.sysctl);
	free(kc.opt);
	free(kc.send);
	free(kc.sendopt);
	memset(&kc, 0, sizeof(kc));
}

static void *grow(void *p, size_t n, size_t sz)
{
	void *q = realloc(p, (n + 1) * sz);
	if (!q) {
		fprintf(stderr, "skbdiff-probe: out of memory\n");
		exit(2);
	}
	memset((char *)q + n * sz, 0, sz);
	return q;
}

/* Output of one case, written only when it is complete. */
static char *out;
static size_t out_len, out_cap;

static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit(const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(out + out_len, out_cap - out_len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < out_cap - out_len) {
			out_len += (size_t)n;
			return;
		}
		out_cap = out_cap * 2 + (n > 0 ? (size_t)n : 0) + 256;
		out = realloc(out, out_cap);
		if (!out)
			exit(2);
	}
}

static void emit_call(const char *what, long idx, long ret, int err)
{
	if (idx >= 0)
		emit("RES %ld %s %ld ", kc.seq, what, idx);
	else
		emit("RES %ld %s ", kc.seq, what);
	if (ret < 0)
		emit("errno=%s\n", errname(err));
	else
		emit("ret=%ld\n", ret);
}

static void flush_out(void)
{
	if (out_len && fwrite(out, 1, out_len, stdout) != out_len)
		exit(1);
	out_len = 0;
	if (fflush(stdout) != 0)
		exit(1);
}

/*
 * Wait (at most 2 s) until the socket's sent skbs are freed: SIOCOUTQ is
 * sk_wmem_alloc, which counts skbs still in a qdisc or a driver ring. It also
 * counts a corked datagram that will never leave, so the wait ends as well
 * when the count has not moved for 50 ms. Sockets whose ioctl does not
 * answer are not waited for.
 */
static void drain(int fd)
{
	if (fd < 0)
		return;
	int last = -1, still = 0;
	for (int i = 0; i < 2000 && still < 50; i++) {
		int outq = 0;
		if (ioctl(fd, SIOCOUTQ, &outq) < 0 || outq <= 0)
			return;
		still = outq == last ? still + 1 : 0;
		last = outq;
		usleep(1000);
	}
}

/* The fence (PROTOCOL.md): one broadcast frame, ethertype 0x88b5, "SKBDIFF-FENCE" + seq. */
static int send_fence(int pkt, int ifindex, const uint8_t mac[6], uint32_t seq)
{
	uint8_t frame[60];
	memset(frame, 0, sizeof(frame));
	memset(frame, 0xff, 6);
	memcpy(frame + 6, mac, 6);
	frame[12] = FENCE_ETHERTYPE >> 8;
	frame[13] = FENCE_ETHERTYPE & 0xff;
	memcpy(frame + 14, "SKBDIFF-FENCE", 13);
	frame[27] = (uint8_t)(seq >> 24);
	frame[28] = (uint8_t)(seq >> 16);
	frame[29] = (uint8_t)(seq >> 8);
	frame[30] = (uint8_t)seq;
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(FENCE_ETHERTYPE),
		.sll_ifindex = ifindex,
		.sll_halen = 6,
	};
	memset(sll.sll_addr, 0xff, 6);
	if (sendto(pkt, frame, sizeof(frame), 0, (struct sockaddr *)&sll, sizeof(sll)) != (ssize_t)sizeof(frame))
		return fault("fence on %s: %s", lab.tx, strerror(errno));
	return 0;
}

/* ---- the sender's capabilities (CAPS) ----------------------------------- */

/* The capabilities the send path checks; a CAPS mask may keep only these. */
#define NET_CAPS_MASK ((1ul << CAP_NET_BIND_SERVICE) | (1ul << CAP_NET_ADMIN) | (1ul << CAP_NET_RAW))

static struct __user_cap_data_struct caps_saved[_LINUX_CAPABILITY_U32S_3];
static int caps_dropped;

static int sys_capget(struct __user_cap_data_struct *d)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	return (int)syscall(SYS_capget, &h, d);
}

static int sys_capset(const struct __user_cap_data_struct *d)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	return (int)syscall(SYS_capset, &h, d);
}

/*
 * Takes the network capabilities outside kc.caps_mask out of the effective
 * set (capset; they stay permitted, so caps_restore can put them back). A
 * capability the case keeps but the probe does not hold is a lab fault: the
 * case would run with less than it asked for.
 */
static int caps_drop(void)
{
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
	if (sys_capget(caps_saved) < 0)
		return fault("capget: %s", strerror(errno));
	uint32_t missing = (uint32_t)kc.caps_mask & ~caps_saved[0].effective;
	if (missing)
		return fault("CAPS %lx: the probe lacks capability mask %x in its effective set", kc.caps_mask, missing);
	memcpy(d, caps_saved, sizeof(d));
	d[0].effective &= ~(uint32_t)(NET_CAPS_MASK & ~kc.caps_mask);
	if (sys_capset(d) < 0)
		return fault("capset (drop to %lx): %s", kc.caps_mask, strerror(errno));
	caps_dropped = 1;
	return 0;
}

/* Back to the saved effective set; without it the next lab cannot be built, so failing is fatal. */
static void caps_restore(void)
{
	if (!caps_dropped)
		return;
	if (sys_capset(caps_saved) < 0) {
		fprintf(stderr, "skbdiff-probe: capset (restore): %s\n", strerror(errno));
		exit(3);
	}
	caps_dropped = 0;
}

/* Track UDP_CORK (flag 2 of *corked; udp_lib_setsockopt takes it at SOL_UDP and SOL_UDPLITE). */
static void note_cork(const struct sockopt_req *o, int r, int *corked)
{
	if (r == 0 && (o->level == SOL_UDP || o->level == IPPROTO_UDPLITE) && o->name == UDP_CORK && o->len >= sizeof(int)) {
		int v;
		memcpy(&v, o->val, sizeof(v));
		*corked = v ? (*corked | 2) : (*corked & ~2);
	}
}

/*
 * socket, setsockopts, bind, connect, then for each send its SENDOPT
 * setsockopts and its sendmsg, then getsockname (PROTOCOL.md "RUN"). Every
 * setsockopt is numbered in the order made: the socket's first, then the sends'.
 */
static int run_calls(int txidx, long *sport)
{
	*sport = -1;
	int fd = socket((int)kc.domain, (int)kc.type, (int)kc.protocol);
	emit_call("socket", -1, fd, errno);
	if (fd < 0) {
		caps_restore();
		return -1;
	}
	long nopt = 0;
	int corked = 0; /* 1: the last send had MSG_MORE, 2: UDP_CORK on; data may wait in the socket */
	for (size_t i = 0; i < kc.nopt; i++) {
		struct sockopt_req *o = &kc.opt[i];
		int r = setsockopt(fd, (int)o->level, (int)o->name, o->val, (socklen_t)o->len);
		emit_call("setsockopt", nopt++, r, errno);
		note_cork(o, r, &corked);
	}
	if (kc.has_bind) {
		int r = bind(fd, (struct sockaddr *)&kc.bind, sizeof(kc.bind));
		emit_call("bind", -1, r, errno);
	}
	if (kc.has_connect) {
		int r = connect(fd, (struct sockaddr *)&kc.connect, sizeof(kc.connect));
		emit_call("connect", -1, r, errno);
	}
	for (size_t i = 0; i < kc.nsend; i++) {
		struct send_req *s = &kc.send[i];
		for (size_t k = 0; k < s->nopt; k++) {
			struct sockopt_req *o = &s->opt[k];
			int r = setsockopt(fd, (int)o->level, (int)o->name, o->val, (socklen_t)o->len);
			emit_call("setsockopt", nopt++, r, errno);
			note_cork(o, r, &corked);
		}
		/*
		 * Each send starts with the earlier datagrams gone from the send
		 * buffer (PROTOCOL.md "RUN"): on veth they leave within the send,
		 * a guest's NIC may still hold them until TX completion, and what
		 * they hold counts against sk_sndbuf (EAGAIN, ENOBUFS).
		 */
		if (i > 0 && !corked)
			drain(fd);
		corked = (corked & 2) | ((s->flags & MSG_MORE) ? 1 : 0);
		struct iovec iov[1024];
		static uint8_t empty[1];
		size_t niov = 0, off = 0;
		if (s->niov == 0) {
			if (s->len) {
				iov[0].iov_base = s->payload;
				iov[0].iov_len = s->len;
				niov = 1;
			}
		} else {
			for (; niov < s->niov; niov++) {
				iov[niov].iov_base = s->len ? s->payload + off : empty;
				iov[niov].iov_len = (size_t)s->iov[niov];
				off += (size_t)s->iov[niov];
			}
		}
		for (size_t k = 0; k < s->nifidx; k++) {
			int32_t v = txidx;
			memcpy(s->control + s->ifidx_at[k], &v, 4);
		}
		struct msghdr mh = {
			.msg_name = s->has_to ? &s->to : NULL,
			.msg_namelen = s->has_to ? sizeof(s->to) : 0,
			.msg_iov = niov ? iov : NULL,
			.msg_iovlen = niov,
			.msg_control = s->clen ? s->control : NULL,
			.msg_controllen = s->clen,
		};
		ssize_t r = sendmsg(fd, &mh, (int)s->flags);
		emit_call("send", (long)i, (long)r, errno);
	}
	/* the calls are over: full privileges again for the fence and the netns move */
	caps_restore();
	struct sockaddr_in me;
	socklen_t melen = sizeof(me);
	memset(&me, 0, sizeof(me));
	if (getsockname(fd, (struct sockaddr *)&me, &melen) == 0)
		*sport = ntohs(me.sin_port);
	return fd;
}

/* One case, from unshare to the lab netns again (PROTOCOL.md "The lab"). */
static void run_case(void)
{
	int casens = -1, cnl = -1, pkt = -1, moved = 0, txidx = -1, fd = -1;
	long sport = -1;
	lab_err[0] = 0;
	out_len = 0;

	if (lab_check() < 0)
		goto done;
	int labidx = ifindex_of(lab.ioc, lab.tx);
	struct ifreq hw;
	memset(&hw, 0, sizeof(hw));
	snprintf(hw.ifr_name, IFNAMSIZ, "%s", lab.tx);
	if (ioctl(lab.ioc, SIOCGIFHWADDR, &hw) < 0) {
		fault("SIOCGIFHWADDR %s: %s", lab.tx, strerror(errno));
		goto done;
	}
	uint8_t mac[6];
	memcpy(mac, hw.ifr_hwaddr.sa_data, 6);

	if (unshare(CLONE_NEWNET) < 0) {
		fault("unshare(CLONE_NEWNET): %s", strerror(errno));
		goto done;
	}
	casens = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (casens < 0) {
		fault("open case netns: %s", strerror(errno));
		goto back;
	}
	/* no IPv6 in the case netns: tx must send only what the case sends */
	static const char *v6[] = { "net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6" };
	for (int i = 0; i < 2; i++) {
		int e = sysctl_write(v6[i], "1", 1);
		if (e < 0 && e != -ENOENT) {
			fault("sysctl %s: %s", v6[i], strerror(-e));
			goto back;
		}
	}
	if (setns(lab.labns, CLONE_NEWNET) < 0) {
		fault("setns lab: %s", strerror(errno));
		goto back;
	}
	int e = link_set(lab.nl, labidx, 0, -1, casens);
	if (e < 0) {
		fault("move %s into the case netns: %s", lab.tx, strerror(-e));
		goto back;
	}
	moved = 1;
	if (setns(casens, CLONE_NEWNET) < 0) {
		fault("setns case: %s", strerror(errno));
		goto back;
	}
	cnl = nl_open();
	pkt = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (cnl < 0 || pkt < 0) {
		fault("case netns sockets: %s", strerror(errno));
		goto back;
	}
	txidx = ifindex_of(pkt, lab.tx);
	int loidx = ifindex_of(pkt, "lo");
	if (txidx < 0 || loidx < 0) {
		fault("%s or lo missing in the case netns", lab.tx);
		goto back;
	}
	if ((e = link_set(cnl, loidx, 0, 1, -1)) < 0) {
		fault("lo up: %s", strerror(-e));
		goto back;
	}
	if (feat_set(pkt, lab.tx, kc.csum, kc.gso, -1) < 0)
		goto back;
	if ((e = link_set(cnl, txidx, (unsigned)kc.mtu, 1, -1)) < 0) {
		fault("%s mtu %ld up: %s", lab.tx, kc.mtu, strerror(-e));
		goto back;
	}
	if (link_wait_oper_up(cnl, txidx, lab.tx) < 0)
		goto back;
	if ((e = addr_add(cnl, txidx)) < 0) {
		fault("address 198.18.0.1/24 on %s: %s", lab.tx, strerror(-e));
		goto back;
	}
	if ((e = route_add(cnl, txidx, kc.route_mtu)) < 0) {
		fault("route 198.18.0.0/24 dev %s (mtu %ld): %s", lab.tx, kc.route_mtu, strerror(-e));
		goto back;
	}
	if ((e = neigh_add(cnl, txidx)) < 0) {
		fault("neighbour 198.18.0.2 on %s: %s", lab.tx, strerror(-e));
		goto back;
	}
	for (size_t i = 0; i < kc.nsysctl; i++) {
		e = sysctl_write(kc.sysctl[i].name, (const char *)kc.sysctl[i].val, kc.sysctl[i].len);
		if (e < 0) {
			fault("sysctl %s: %s", kc.sysctl[i].name, strerror(-e));
			goto back;
		}
	}

	/* CAPS: dropped right before socket(), restored by run_calls after the last send */
	if (kc.has_caps && caps_drop() < 0)
		goto back;
	fd = run_calls(txidx, &sport);
	emit("INFO %ld sport=%ld txifindex=%d\n", kc.seq, sport, txidx);
	/*
	 * A device with a qdisc (a guest's NIC) may still hold the case's frames:
	 * let them out before the fence, and the fence out before tx moves (a move
	 * resets the queue and drops what it holds, unseen by any capture).
	 */
	drain(fd);
	send_fence(pkt, txidx, mac, (uint32_t)kc.seq);
	drain(pkt);
	/* closed only after the fence: a pending cork is dropped, never sent, on close */
	if (fd >= 0)
		close(fd);

back:
	if (moved && cnl >= 0) {
		/* back to the lab netns before the case netns dies (a physical device would go to init_net) */
		e = link_set(cnl, txidx, 0, 0, lab.labns);
		if (e < 0)
			fault("move %s back to the lab netns: %s", lab.tx, strerror(-e));
	} else if (moved) {
		fault("cannot move %s back: no netlink socket in the case netns", lab.tx);
	}
	if (cnl >= 0)
		close(cnl);
	if (pkt >= 0)
		close_later(pkt);
	if (setns(lab.labns, CLONE_NEWNET) < 0) {
		fprintf(stderr, "skbdiff-probe: cannot return to the lab netns: %s\n", strerror(errno));
		exit(3);
	}
	if (casens >= 0)
		close(casens);
done:
	if (lab_err[0]) {
		/* a lab fault voids the case: its ERR replaces DONE (results so far are dropped) */
		out_len = 0;
		emit("ERR %ld %s\n", kc.seq, lab_err);
	} else {
		emit("DONE %ld\n", kc.seq);
	}
	flush_out();
}

/* ---- requests ---------------------------------------------------------- */

static long cur_seq;

static void bad_request(const char *what, const char *line)
{
	out_len = 0;
	emit("ERR %ld bad request (%s): %.80s\n", cur_seq, what, line);
	flush_out();
	case_reset();
}

#define MAXTOK 10

static int tokenize(char *line, char **tok)
{
	int n = 0;
	char *save = NULL;
	for (char *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (n == MAXTOK)
			return -1;
		tok[n++] = t;
	}
	return n;
}

/* Handles one request line; returns 1 on QUIT. */
static int handle(char *line)
{
	char copy[96];
	snprintf(copy, sizeof(copy), "%s", line);
	char *t[MAXTOK];
	int n = tokenize(line, t);
	if (n <= 0)
		return n < 0 ? (bad_request("too many fields", copy), 0) : 0;
	const char *cmd = t[0];
	long v[4];

	if (strcmp(cmd, "QUIT") == 0)
		return 1;
	if (strcmp(cmd, "CASE") == 0) {
		case_reset();
		if (n != 3 || parse_long(t[1], &v[0]) < 0 || v[0] < 0)
			return bad_request("CASE <seq> <id>", copy), 0;
		cur_seq = kc.seq = v[0];
		kc.active = 1;
		kc.route_mtu = -1;
		fprintf(stderr, "case %ld %s\n", kc.seq, t[2]);
		return 0;
	}
	if (!kc.active)
		return bad_request("no CASE before it", copy), 0;
	if (strcmp(cmd, "NET") == 0) {
		if (n != 5 || parse_long(t[1], &kc.mtu) < 0 || kc.mtu <= 0 ||
		    (strcmp(t[2], "-") != 0 && (parse_long(t[2], &kc.route_mtu) < 0 || kc.route_mtu < 0)) ||
		    parse_long(t[3], &v[0]) < 0 || parse_long(t[4], &v[1]) < 0 || (v[0] | v[1]) & ~1L)
			return bad_request("NET <mtu> <route_mtu|-> <0|1> <0|1>", copy), 0;
		kc.csum = (int)v[0];
		kc.gso = (int)v[1];
		kc.have_net = 1;
	} else if (strcmp(cmd, "SYSCTL") == 0) {
		kc.sysctl = grow(kc.sysctl, kc.nsysctl, sizeof(*kc.sysctl));
		struct sysctl_req *s = &kc.sysctl[kc.nsysctl++];
		ssize_t len;
		if (n != 3 || strchr(t[1], '/') || (len = unhex(t[2], &s->val)) < 0)
			return bad_request("SYSCTL <name> <hex>", copy), 0;
		s->name = strdup(t[1]);
		s->len = (size_t)len;
	} else if (strcmp(cmd, "SOCKET") == 0) {
		if (n != 4 || parse_long(t[1], &kc.domain) < 0 || parse_long(t[2], &kc.type) < 0 ||
		    parse_long(t[3], &kc.protocol) < 0)
			return bad_request("SOCKET <domain> <type> <protocol>", copy), 0;
		kc.have_socket = 1;
	} else if (strcmp(cmd, "CAPS") == 0) {
		char *end;
		errno = 0;
		unsigned long m = n == 2 ? strtoul(t[1], &end, 16) : 0;
		if (n != 2 || errno || *end || end == t[1] || t[1][0] == '-' || t[1][0] == '+' || (m & ~NET_CAPS_MASK))
			return bad_request("CAPS <hex mask of CAP_NET_BIND_SERVICE, CAP_NET_ADMIN, CAP_NET_RAW bits>", copy), 0;
		kc.caps_mask = m;
		kc.has_caps = 1;
	} else if (strcmp(cmd, "SETSOCKOPT") == 0 || strcmp(cmd, "SENDOPT") == 0) {
		int before_send = strcmp(cmd, "SENDOPT") == 0; /* belongs to the next SEND */
		struct sockopt_req **list = before_send ? &kc.sendopt : &kc.opt;
		size_t *nlist = before_send ? &kc.nsendopt : &kc.nopt;
		*list = grow(*list, *nlist, sizeof(**list));
		struct sockopt_req *o = &(*list)[(*nlist)++];
		ssize_t len;
		if (n != 4 || parse_long(t[1], &o->level) < 0 || parse_long(t[2], &o->name) < 0 ||
		    (len = unhex(t[3], &o->val)) < 0)
			return bad_request(before_send ? "SENDOPT <level> <name> <hex|->" : "SETSOCKOPT <level> <name> <hex|->", copy), 0;
		o->len = (size_t)len;
	} else if (strcmp(cmd, "BIND") == 0 || strcmp(cmd, "CONNECT") == 0) {
		struct sockaddr_in *sin = cmd[0] == 'B' ? &kc.bind : &kc.connect;
		if (n != 3 || parse_ip4(t[1], sin) < 0 || parse_long(t[2], &v[0]) < 0 || v[0] < 0 || v[0] > 65535)
			return bad_request("BIND|CONNECT <a.b.c.d> <port>", copy), 0;
		sin->sin_port = htons((uint16_t)v[0]);
		*(cmd[0] == 'B' ? &kc.has_bind : &kc.has_connect) = 1;
	} else if (strcmp(cmd, "SEND") == 0) {
		kc.send = grow(kc.send, kc.nsend, sizeof(*kc.send));
		struct send_req *s = &kc.send[kc.nsend++];
		/* the SENDOPT lines read since the previous SEND are this send's */
		s->opt = kc.sendopt;
		s->nopt = kc.nsendopt;
		kc.sendopt = NULL;
		kc.nsendopt = 0;
		ssize_t len, clen;
		unsigned long fl;
		char *end;
		if (n != 8)
			return bad_request("SEND needs 7 fields", copy), 0;
		errno = 0;
		fl = strtoul(t[1], &end, 10);
		if (errno || *end || end == t[1] || fl > 0xffffffffUL)
			return bad_request("SEND flags", copy), 0;
		s->flags = (unsigned)fl;
		if (strcmp(t[2], "-") != 0 || strcmp(t[3], "-") != 0) {
			if (parse_ip4(t[2], &s->to) < 0 || parse_long(t[3], &v[0]) < 0 || v[0] < 0 || v[0] > 65535)
				return bad_request("SEND address", copy), 0;
			s->to.sin_port = htons((uint16_t)v[0]);
			s->has_to = 1;
		}
		if (parse_list(t[4], &s->iov, &s->niov) < 0 || s->niov > 1024)
			return bad_request("SEND iov", copy), 0;
		if ((len = unhex(t[5], &s->payload)) < 0)
			return bad_request("SEND payload", copy), 0;
		s->len = (size_t)len;
		size_t sum = 0;
		for (size_t i = 0; i < s->niov; i++)
			sum += (size_t)s->iov[i];
		if (s->niov && sum != s->len)
			return bad_request("SEND iov lengths do not add up to the payload", copy), 0;
		if ((clen = unhex(t[6], &s->control)) < 0)
			return bad_request("SEND control", copy), 0;
		s->clen = (size_t)clen;
		if (parse_list(t[7], &s->ifidx_at, &s->nifidx) < 0)
			return bad_request("SEND ifindex offsets", copy), 0;
		for (size_t i = 0; i < s->nifidx; i++)
			if ((size_t)s->ifidx_at[i] + 4 > s->clen)
				return bad_request("SEND ifindex offset outside the control buffer", copy), 0;
	} else if (strcmp(cmd, "RUN") == 0) {
		if (n != 1 || !kc.have_net || !kc.have_socket)
			return bad_request("RUN without NET or SOCKET", copy), 0;
		if (kc.nsendopt)
			return bad_request("SENDOPT without a SEND after it", copy), 0;
		run_case();
		case_reset();
	} else {
		return bad_request("unknown request", copy), 0;
	}
	return 0;
}

/* ---- main -------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr, "usage: skbdiff-probe --lab veth|dev:NAME [--cpu N]\n       skbdiff-probe --version\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *labarg = NULL;
	long cpu = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--version") == 0) {
			printf("%s\n", PROTO_VERSION);
			return 0;
		} else if (strcmp(argv[i], "--lab") == 0 && i + 1 < argc) {
			labarg = argv[++i];
		} else if (strcmp(argv[i], "--cpu") == 0 && i + 1 < argc) {
			if (parse_long(argv[++i], &cpu) < 0 || cpu < 0 || cpu >= CPU_SETSIZE)
				usage();
		} else {
			usage();
		}
	}
	if (!labarg)
		usage();
	if (strcmp(labarg, "veth") == 0) {
		lab.veth = 1;
		strcpy(lab.tx, "tx");
		strcpy(lab.rx, "rx");
	} else if (strncmp(labarg, "dev:", 4) == 0 && labarg[4] && strlen(labarg + 4) < IFNAMSIZ) {
		strcpy(lab.tx, labarg + 4);
	} else {
		usage();
	}

	/* one CPU: the case's frames and its fence queue on the same per-CPU backlog */
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET((int)cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0) {
		fprintf(stderr, "skbdiff-probe: sched_setaffinity cpu %ld: %s\n", cpu, strerror(errno));
		return 2;
	}

	reaper_start();
	lab.labns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	lab.nl = nl_open();
	lab.ioc = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (lab.labns < 0 || lab.nl < 0 || lab.ioc < 0) {
		fprintf(stderr, "skbdiff-probe: lab netns: %s\n", strerror(errno));
		return 2;
	}
	if (lab.veth ? lab_make_veth() < 0 : lab_check() < 0) {
		fprintf(stderr, "skbdiff-probe: %s\n", lab_err);
		return 2;
	}
	struct ifreq hw;
	memset(&hw, 0, sizeof(hw));
	snprintf(hw.ifr_name, IFNAMSIZ, "%s", lab.tx);
	if (ioctl(lab.ioc, SIOCGIFHWADDR, &hw) < 0) {
		fprintf(stderr, "skbdiff-probe: SIOCGIFHWADDR %s: %s\n", lab.tx, strerror(errno));
		return 2;
	}
	const uint8_t *m = (const uint8_t *)hw.ifr_hwaddr.sa_data;
	struct utsname u;
	uname(&u);
	printf("READY %s release=%s tx=%s rx=%s txmac=%02x:%02x:%02x:%02x:%02x:%02x\n", PROTO_VERSION, u.release, lab.tx,
	       lab.veth ? lab.rx : "-", m[0], m[1], m[2], m[3], m[4], m[5]);
	fflush(stdout);

	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, stdin)) >= 0) {
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = 0;
		if (handle(line))
			break;
	}
	free(line);
	return 0;
}
