#!/usr/bin/env python3
"""report.py - REPORT.md and its plots from a run's results.tsv.

    python3 bench/report.py RESULTS_DIR OUTPUT_DIR

RESULTS_DIR holds results.tsv (bench, config, round, metric, value),
machine.tsv and skipped.tsv, as bench/run.sh writes them.  OUTPUT_DIR gets
REPORT.md and, if gnuplot is installed, one PNG per benchmark.  Every figure
is the median over the runs, with the range (min-max) beside it; ratios are
taken within a round (the runs of one round are side by side) and then the
median over the rounds.

REPORT.md is two parts.  Above the line MARK (below) is what this script
writes from the run; from MARK on are hand-written notes (paired A/Bs,
profiles, designs tried and dropped) that no run can make again: they are
carried over byte for byte from the REPORT.md already in OUTPUT_DIR.  A
REPORT.md there with no MARK, or with a heading above it that this script
does not write (a hand-written section in the generated part, which would
be lost), is refused: exit 2, nothing written.
"""
import atexit
import collections
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

src, dst = sys.argv[1], sys.argv[2]
rows = collections.defaultdict(dict)        # (bench, config, metric) -> {round: value}
before = collections.defaultdict(dict)      # the same for CONFIG@before (BENCH_BEFORE)
for line in open(os.path.join(src, "results.tsv")):
    f = line.rstrip("\n").split("\t")
    if len(f) == 5:
        if f[1].endswith("@before"):
            before[(f[0], f[1][:-len("@before")], f[3])][f[2]] = float(f[4])
        else:
            rows[(f[0], f[1], f[3])][f[2]] = float(f[4])
machine = dict(l.rstrip("\n").split("\t", 1) for l in open(os.path.join(src, "machine.tsv"))
               if "\t" in l)
skipped = [l.rstrip("\n").split("\t")[1:] for l in open(os.path.join(src, "skipped.tsv")) if l.strip()]
plots = []
MARK = ("<!-- Hand-written notes from here on. bench/report.py rewrites everything above this line "
        "from a run and keeps this line and everything below it byte for byte. -->")
report = os.path.join(dst, "REPORT.md")


def refuse(why):
    sys.stderr.write("bench/report.py: %s: %s; nothing written\n" % (report, why))
    sys.exit(2)


def old_report():
    """(the generated part, the notes from MARK on) of the REPORT.md in dst, as bytes."""
    try:
        old = open(report, "rb").read()
    except FileNotFoundError:
        return b"", MARK.encode() + b"\n"
    line = MARK.encode() + b"\n"
    at = 0 if old.startswith(line) else old.find(b"\n" + line) + 1
    if at == 0 and not old.startswith(line):
        refuse("no line %r...: its hand-written part would be lost" % MARK[:37])
    return old[:at], old[at:]


old_generated, notes = old_report()     # checked before anything is written
work = tempfile.mkdtemp(prefix=".report-", dir=dst)     # the plots, until the report is written
atexit.register(shutil.rmtree, work, True)


def vals(bench, config, metric):
    return rows.get((bench, config, metric), {})


def med(v):
    v = list(v.values()) if isinstance(v, dict) else list(v)
    return statistics.median(v) if v else None


def rng(v):
    v = list(v.values()) if isinstance(v, dict) else list(v)
    return (min(v), max(v)) if v else (None, None)


def ratios(a, b):
    """Per-round a/b over the rounds both have."""
    return [a[r] / b[r] for r in a if r in b and b[r]]


def diffs(a, b):
    return [a[r] - b[r] for r in a if r in b]


def f(x, fmt="{:,.0f}"):
    return "–" if x is None else fmt.format(x)


def fr(v, fmt="{:,.0f}"):
    """median (min–max)"""
    lo, hi = rng(v)
    if lo is None:
        return "–"
    return "%s (%s–%s)" % (f(med(v), fmt), f(lo, fmt), f(hi, fmt))


def runs(v):
    return len(v)


def gnuplot(name, script, data):
    """Write NAME.dat and render NAME.png into dst, if gnuplot is there."""
    if not shutil.which("gnuplot"):
        return
    datf = os.path.join(src, name + ".dat")
    with open(datf, "w") as fh:
        fh.write(data)
    png = os.path.join(work, name + ".png")
    head = ('set terminal pngcairo size 800,450 font "sans,10"\nset output "%s"\n'
            'set grid ytics\nset key top right\n' % png)
    r = subprocess.run(["gnuplot"], input=head + script.replace("DATA", '"%s"' % datf),
                       text=True, capture_output=True)
    if r.returncode == 0:
        plots.append(name + ".png")
    else:
        sys.stderr.write("gnuplot %s: %s" % (name, r.stderr))


out = []
w = out.append
ps_note = ""
verdicts = []   # (target, measured, verdict)

# ---- 1. connect ----------------------------------------------------------------
conn = {}   # family -> [(n, ratios, base, rate)]
for (b, c, m), v in list(rows.items()):
    if b == "connect" and m == "rate":
        fam, n = c.split("/")
        conn.setdefault(fam, []).append(int(n))
conn_sec = []
conn_plot = []
for fam in ("sockredir", "iptables", "nftables"):
    for n in sorted(conn.get(fam, [])):
        c = "%s/%d" % (fam, n)
        rate, base = vals("connect", c, "rate"), vals("connect", c, "base")
        rt = ratios(rate, base)
        load = vals("connect", c, "load_ms")
        conn_sec.append("| %s | %s | %s | %s | **%s** | %s | %d | %s |" % (
            fam, f(n), fr(base), fr(rate), f(med(rt), "{:.3f}"),
            "%s–%s" % (f(min(rt), "{:.3f}"), f(max(rt), "{:.3f}")) if rt else "–",
            runs(rate), f(med(load), "{:,.0f} ms") if load else "–"))
        if rt:
            conn_plot.append((fam, n, med(rt), min(rt), max(rt)))


def conn_ratio(n):
    r = ratios(vals("connect", "sockredir/%d" % n, "rate"), vals("connect", "sockredir/%d" % n, "base"))
    return r


r10k = conn_ratio(10000)
if r10k:
    ovh = 1 - med(r10k)
    verdicts.append(("Connect, no rule matching, 10,000 rules: ≤ 3 % overhead",
                     "%.1f %% (ratio %.3f, rounds %.3f–%.3f)" % (ovh * 100, med(r10k), min(r10k), max(r10k)),
                     "**met**" if ovh <= 0.03 else "**missed**"))
else:
    verdicts.append(("Connect, no rule matching, 10,000 rules: ≤ 3 % overhead", "not measured", "–"))
sr_sizes = sorted(conn.get("sockredir", []))
if len(sr_sizes) > 1:
    meds = [(n, med(conn_ratio(n))) for n in sr_sizes]
    span = max(m for _, m in meds) - min(m for _, m in meds)
    verdicts.append(("Connect cost flat in the number of rules (%s)" % ", ".join(f(n) for n, _ in meds),
                     "ratios " + ", ".join("%.3f" % m for _, m in meds) + " (span %.1f points)" % (span * 100),
                     "**met**" if span <= 0.03 else "**missed**"))
if conn_plot:
    series, data = [], ""
    for i, fam in enumerate(("sockredir", "iptables", "nftables")):
        pts = [p for p in conn_plot if p[0] == fam]
        if not pts:
            continue
        data += "# %s\n" % fam + "".join("%d %f %f %f\n" % p[1:] for p in pts) + "\n\n"
        series.append('DATA index %d using 1:2:3:4 with yerrorlines lw 2 title "%s"' % (len(series), fam))
    gnuplot("connect", 'set title "Connect-accept-close rate with N rules that do not match, relative to no rules"\n'
            'set logscale x\nset xlabel "rules"\nset ylabel "rate / baseline (median, min-max)"\n'
            'set yrange [0:1.1]\nset key bottom left\nset xrange [0.5:200000]\n'
            "plot " + ", ".join(series) + "\n", data)

progs = sorted(c[5:] for (b, c, m) in rows if b == "connect" and c.startswith("prog/") and m == "ns_per_run")
prog_ns = {pn: (med(vals("connect", "prog/" + pn, "runs_per_conn")), med(vals("connect", "prog/" + pn, "ns_per_run")))
           for pn in progs}
if prog_ns:
    top = max(prog_ns, key=lambda pn: prog_ns[pn][0] * prog_ns[pn][1])
    total = sum(r * n for r, n in prog_ns.values())
    ps_note = ("The connect overhead does not grow with the rules: it is the layer's constant cost per "
               "connection, about %s ns of BPF (kernel statistics, section 1), %d %% of it `%s` "
               "(%.0f runs per connection of ~%s ns); the rule lookup in `sr_connect4` is ~%s ns." % (
                   f(total), round(100 * prog_ns[top][0] * prog_ns[top][1] / total), top, prog_ns[top][0],
                   f(prog_ns[top][1]), f(prog_ns.get("sr_connect4", (0, 0))[1])))

# ---- 2. rate -------------------------------------------------------------------
rate_paths = [p for p in ("direct", "sockredir", "iptables", "relay") if vals("rate", p, "rate")]
rate_rows, rate_plot = [], ""
names = {"direct": "direct", "sockredir": "sockredir → odrelay", "iptables": "iptables REDIRECT → odrelay",
         "relay": "sockredir → sockredir-relay"}
for i, p in enumerate(rate_paths):
    v, d = vals("rate", p, "rate"), vals("rate", "direct", "rate")
    rt = ratios(v, d)
    lo, hi = rng(v)
    rate_rows.append("| %s | %s | %s | %d |" % (names[p], fr(v), f(med(rt), "{:.2f}×"), runs(v)))
    rate_plot += '%d "%s" %f %f %f\n' % (i, names[p], med(v), lo, hi)
sr_ipt = ratios(vals("rate", "sockredir", "rate"), vals("rate", "iptables", "rate"))
if sr_ipt:
    verdicts.append(("Redirected connection rate: sockredir ≥ iptables REDIRECT (same relay)",
                     "%.2f× iptables (rounds %.2f–%.2f); %s vs %s conn/s" % (
                         med(sr_ipt), min(sr_ipt), max(sr_ipt),
                         f(med(vals("rate", "sockredir", "rate"))), f(med(vals("rate", "iptables", "rate")))),
                     "**met**" if med(sr_ipt) >= 1.0 else "**missed**"))
else:
    verdicts.append(("Redirected connection rate: sockredir ≥ iptables REDIRECT", "not measured", "–"))
if rate_plot:
    gnuplot("rate", 'set title "Connections per second: connect, 100 B each way, close (one client)"\n'
            'set style fill solid 0.6\nset boxwidth 0.6\nset ylabel "connections/s (median, min-max)"\n'
            'set yrange [0:*]\nset xtics scale 0\nunset key\n'
            'plot DATA using 1:3:xtic(2) with boxes, DATA using 1:3:4:5 with yerrorbars lc rgb "black" pt 0\n',
            rate_plot)

# ---- 6. udp --------------------------------------------------------------------
udp_paths = [p for p in ("direct", "sockredir", "redirect", "tproxy") if vals("udp", p, "flows")]
udp_names = {"direct": "direct", "sockredir": "sockredir → sockredir-relay --udp",
             "redirect": "iptables REDIRECT → sockredir-relay --udp (fixed upstream)",
             "tproxy": "iptables TPROXY → sockredir-relay --udp (fixed upstream)"}
udp_rows = []
for p in udp_paths:
    cells = []
    for load in ("flows", "one"):
        v = vals("udp", p, load)
        cells += [fr(v), f(med(ratios(v, vals("udp", "direct", load))), "{:.2f}×"),
                  f(med(ratios(v, vals("udp", "redirect", load))), "{:.2f}×")]
    lost = sum(vals("udp", p, "lost_flows").values()) + sum(vals("udp", p, "lost_one").values())
    udp_rows.append("| %s | %s | %s | %d |" % (udp_names[p], " | ".join(cells), f(lost), runs(vals("udp", p, "flows"))))
for load, what in (("flows", "a new flow per query"), ("one", "one flow")):
    r = ratios(vals("udp", "sockredir", load), vals("udp", "redirect", load))
    if r:
        verdicts.append(("DNS-sized UDP query rate, %s: sockredir vs iptables REDIRECT (same relay)" % what,
                         "%.2f× REDIRECT (rounds %.2f–%.2f); %s vs %s queries/s" % (
                             med(r), min(r), max(r), f(med(vals("udp", "sockredir", load))),
                             f(med(vals("udp", "redirect", load)))), "reported"))

# ---- 3. bulk -------------------------------------------------------------------
bulk_paths = [p for p in ("direct", "relay", "haproxy", "socat") if vals("bulk", p, "gbps")]
bulk_rows, bulk_plot = [], ""
bnames = {"direct": "direct", "relay": "sockredir → sockredir-relay", "haproxy": "haproxy (splice-auto)",
          "socat": "socat"}
for i, p in enumerate(bulk_paths):
    v, d = vals("bulk", p, "gbps"), vals("bulk", "direct", "gbps")
    rt = ratios(v, d)
    lo, hi = rng(v)
    bulk_rows.append("| %s | %s | %s | %d |" % (bnames[p], fr(v, "{:.2f}"), f(med(rt), "{:.2f}×"), runs(v)))
    bulk_plot += '%d "%s" %f %f %f\n' % (i, bnames[p], med(v), lo, hi)
rh = ratios(vals("bulk", "relay", "gbps"), vals("bulk", "haproxy", "gbps"))
if rh:
    verdicts.append(("Bulk throughput: sockredir-relay ≥ haproxy",
                     "%.2f× haproxy (rounds %.2f–%.2f); %s vs %s Gbit/s" % (
                         med(rh), min(rh), max(rh), f(med(vals("bulk", "relay", "gbps")), "{:.1f}"),
                         f(med(vals("bulk", "haproxy", "gbps")), "{:.1f}")),
                     "**met**" if med(rh) >= 1.0 else "**missed**"))
else:
    verdicts.append(("Bulk throughput: sockredir-relay ≥ haproxy", "not measured", "–"))
if bulk_plot:
    gnuplot("bulk", 'set title "Bulk transfer, one connection, exact size"\n'
            'set style fill solid 0.6\nset boxwidth 0.6\nset ylabel "Gbit/s (median, min-max)"\n'
            'set yrange [0:*]\nset xtics scale 0\nunset key\n'
            'plot DATA using 1:3:xtic(2) with boxes, DATA using 1:3:4:5 with yerrorbars lc rgb "black" pt 0\n',
            bulk_plot)

# ---- 4. latency ----------------------------------------------------------------
lat_paths = [p for p in ("direct", "chain1", "chain2", "chain4", "odrelay", "haproxy", "socat")
             if vals("latency", p, "p50")]
lnames = {"direct": "direct", "chain1": "1 service", "chain2": "2 services", "chain4": "4 services",
          "odrelay": "1 service, odrelay", "haproxy": "haproxy (1 hop)", "socat": "socat (1 hop)"}
hops = {"chain1": 1, "chain2": 2, "chain4": 4, "odrelay": 1, "haproxy": 1, "socat": 1}
lat_rows, lat_plot = [], ""
d50, d99 = vals("latency", "direct", "p50"), vals("latency", "direct", "p99")
per_hop = {}
for i, p in enumerate(lat_paths):
    p50, p99 = vals("latency", p, "p50"), vals("latency", p, "p99")
    add50 = [x / hops.get(p, 1) for x in diffs(p50, d50)] if p != "direct" else []
    add99 = [x / hops.get(p, 1) for x in diffs(p99, d99)] if p != "direct" else []
    per_hop[p] = (med(add50) if add50 else None, med(add99) if add99 else None)
    lat_rows.append("| %s | %s | %s | %s | %s | %d |" % (
        lnames[p], fr(p50, "{:.1f}"), fr(p99, "{:.1f}"),
        f(per_hop[p][0], "{:+.1f}"), f(per_hop[p][1], "{:+.1f}"), runs(p50)))
    lat_plot += '%d "%s" %f %f\n' % (i, lnames[p], med(p50), med(p99))
if "chain1" in per_hop:
    hop = [per_hop[c][0] for c in ("chain1", "chain2", "chain4") if c in per_hop and per_hop[c][0] is not None]
    m = "p50 +%.1f µs per sockredir-relay hop (chains 1/2/4: %s)" % (
        statistics.median(hop), " / ".join("%.1f" % h for h in hop))
    for other in ("odrelay", "haproxy", "socat"):
        if per_hop.get(other, (None,))[0] is not None:
            m += "; %s hop +%.1f µs" % ("sockredir → odrelay" if other == "odrelay" else other,
                                        per_hop[other][0])
    verdicts.append(("Latency per hop, 64 B ping-pong (no number set)", m, "reported"))
if lat_plot:
    gnuplot("latency", 'set title "64 B request/response on one connection"\n'
            'set style data histogram\nset style histogram clustered gap 1\nset style fill solid 0.6\n'
            'set ylabel "microseconds (median of runs)"\nset yrange [0:*]\nset xtics scale 0\n'
            'plot DATA using 3:xtic(2) title "p50", DATA using 4 title "p99"\n', lat_plot)

# ---- 5. memory -----------------------------------------------------------------
# Slab pages freed by one run are reused by the next, so /proc/meminfo's Slab
# line under-counts every run after the first; objects in use per cache
# (slabinfo) do not have that problem.  Each cache: median over the runs of
# a kind (a cache a run does not list moved by less than 8 B per flow there).
mem_rows, slab_rows = [], []
NOT_FLOWS = {"proc_inode_cache"}
nflows = med(vals("memory", "redirected", "flows")) or med(vals("memory", "direct", "flows"))
mem_tot = {}
if nflows:
    caches = sorted(set(m[5:] for (b, c, m) in rows if b == "memory" and m.startswith("slab:")))
    per_kind = {}
    for kind in ("direct", "redirected"):
        rounds = list(vals("memory", kind, "flows"))
        per_kind[kind] = {c: statistics.median([vals("memory", kind, "slab:" + c).get(r, 0) for r in rounds])
                          / nflows for c in caches} if rounds else {}
    dk, rk = per_kind.get("direct", {}), per_kind.get("redirected", {})
    for c in caches:
        d, r = dk.get(c, 0), rk.get(c, 0)
        if max(abs(d), abs(r), abs(r - d)) >= 16:
            slab_rows.append((c in NOT_FLOWS, -abs(r - d), "| %s%s | %s | %s | %s |" % (
                c, " (not counted: see below)" if c in NOT_FLOWS else "",
                f(d, "{:,.0f}"), f(r, "{:,.0f}"), f(r - d, "{:+,.0f}"))))
    # /proc inodes of the holders' descriptors appear when something on the
    # machine lists /proc/PID/fd; they are not the flows' memory.
    mem_tot = {"direct": sum(v for c, v in dk.items() if c not in NOT_FLOWS),
               "redirected": sum(v for c, v in rk.items() if c not in NOT_FLOWS)}
    for metric, label in (("slab_kb", "/proc/meminfo Slab grew by"),
                          ("avail_kb", "/proc/meminfo MemAvailable fell by")):
        dv, rv = vals("memory", "direct", metric), vals("memory", "redirected", metric)
        per = lambda v: [x * 1024 / nflows for x in v.values()]
        mem_rows.append("| %s | %s | %s |" % (label, fr(per(dv), "{:,.0f}"), fr(per(rv), "{:,.0f}")))
    if dk and rk:
        share = mem_tot["redirected"] - mem_tot["direct"]
        verdicts.append(("Kernel memory per redirected flow (no number set)",
                         "%s B/flow of layer state (BPF socket storage, kmalloc-cg-*) on top of %s B/flow "
                         "for the two sockets; "
                         "%s MiB in all at %s flows, %s MiB of it the layer's" % (
                             f(share, "{:,.0f}"), f(mem_tot["direct"], "{:,.0f}"),
                             f(mem_tot["redirected"] * nflows / 2**20, "{:,.0f}"), f(nflows),
                             f(share * nflows / 2**20, "{:,.0f}")), "reported"))

# ---- the page ------------------------------------------------------------------
w("# sockredir benchmarks\n")
w("Generated by %s on %s; raw figures in `build/bench/%s/results.tsv`.\n"
  % ("`make bench` (`bench/run.sh full`)" if machine.get("mode") == "full" else
     "`make bench-smoke` (`bench/run.sh smoke`: one tiny run each, to keep the paths working; "
     "not figures to quote)", machine.get("date", "?"), machine.get("mode", "full")))
w("**Machine:** %s vCPU (%s), %s RAM, kernel %s, %s. Commit %s. "
  "Everything runs in private network namespaces on loopback; client, proxies and server share the "
  "%s CPUs.\n" % (machine.get("nproc"), machine.get("cpu"), machine.get("mem"), machine.get("kernel"),
                  machine.get("os"), machine.get("commit"), machine.get("nproc")))
w("**Alternatives:** %s.\n" % "; ".join(("socat " if k == "socat" else "") + machine[k]
                                        for k in ("haproxy", "socat", "iptables", "nft") if k in machine))
w("## Where we stand\n")
w("| target | measured | verdict |\n|---|---|---|")
for t, m, v in verdicts:
    w("| %s | %s | %s |" % (t, m, v))
if ps_note:
    w("")
    w(ps_note)
w("")
w("Figures are medians over the runs, with the range (min–max) in brackets. "
  "Ratios are taken between runs of the same round — the configurations of a round run one "
  "after another, their order alternating from round to round — and the median of those is shown.\n")
w("The sections after *Method and pitfalls* are hand-written notes, each with its own date and "
  "measurements; `bench/report.py` carries them over as they are. Everything above them is this run.\n")
if skipped:
    w("**Skipped:** " + "; ".join("%s (%s)" % (a, b) for a, b in skipped) + "\n")

w("## 1. Connect cost of traffic that matches no rule\n")
w("`bench/connloop.c`: one thread connects to its own listener on 127.0.0.1, accepts, closes the "
  "client with SO_LINGER 0 (a RST: no TIME_WAIT), closes the accepted end; %s s per run, after "
  "200 untimed iterations, pinned to one CPU, a fresh port each run. "
  "Each configuration alternates with the baseline (no layer, no netfilter) round by round. "
  "sockredir: the loop runs in the attached cgroup, with N rules that redirect distinct /32s in "
  "10.0.0.0/8 to a dummy service (loaded with `sockredir rule load`). iptables: N `nat OUTPUT "
  "-d 10.x.y.z/32 -j REDIRECT` rules (iptables-restore, nf_tables backend) in a namespace of their "
  "own; nftables: one rule matching an N-address set. Conntrack is flushed before each run of those, "
  "and the namespace with its rules is deleted after each configuration. The ratio includes the "
  "layer's setsockopt hook, which runs for the loop's SO_LINGER call.\n"
  % machine.get("connect_secs", "0.5"))
if plots and "connect.png" in plots:
    w("![connect](connect.png)\n")
w("| with | rules | baseline conn/s | conn/s | ratio | ratio range | runs | rules loaded in |")
w("|---|---:|---:|---:|---:|---:|---:|---:|")
out.extend(conn_sec)
ps = progs
if ps:
    w("\nWhere the layer's time goes, from the kernel's own program statistics "
      "(`kernel.bpf_stats_enabled`, on for one extra %s s run with 10,000 rules only; the "
      "statistics add a little to each run they time):\n" % machine.get("connect_secs", "0.5"))
    w("| program | runs per connection | ns per run | ns per connection |\n|---|---:|---:|---:|")
    tot = 0
    for pn in ps:
        rpc = med(vals("connect", "prog/" + pn, "runs_per_conn"))
        npr = med(vals("connect", "prog/" + pn, "ns_per_run"))
        tot += rpc * npr
        w("| %s | %.2f | %s | %s |" % (pn, rpc, f(npr), f(rpc * npr)))
    base = med([v for (b, c, m), vv in rows.items() if b == "connect" and m == "base" and c.startswith("sockredir/")
                for v in vv.values()])
    w("| **all** | | | **%s** (%.1f %% of a %s µs iteration) |" % (f(tot), tot / (1e9 / base) * 100 if base else 0,
                                                                  f(1e6 / base, "{:.1f}") if base else "?"))
mk = [(c, v) for (b, c, m), v in rows.items() if b == "connect" and m == "maps_kb"]
if mk:
    w("\nThe layer's maps (bpftool memlock, all `sr_*` maps): " +
      ", ".join("%s rules %s KiB" % (f(int(c.split("/")[1])), f(med(v))) for c, v in
                sorted(mk, key=lambda x: int(x[0].split("/")[1]))) + ".")
w("")

w("## 2. Redirected connection rate through one relay\n")
w("`bench/rr.c rate`: one client at a time connects, sends 100 B, reads the 100 B echo, closes; "
  "%s s per run. `bench/odrelay.c` is a small epoll relay that reads the destination with "
  "`getsockopt(SOL_IP, SO_ORIGINAL_DST)` — answered by the layer for redirected sockets and by "
  "netfilter for REDIRECTed ones — so the sockredir and iptables paths run identical relay code. "
  "The iptables rule matches the client's cgroup (`-m cgroup --path`), so the relay's own connection "
  "is not turned back; sockredir knows the relay as the service's owner. The iptables path pays for "
  "conntrack (flushed before each run); sockredir-relay also logs one JSON line per flow.\n"
  % machine.get("rate_secs", "1"))
if "rate.png" in plots:
    w("![rate](rate.png)\n")
w("| path | conn/s | × direct | runs |\n|---|---:|---:|---:|")
out.extend(rate_rows)
w("")

w("## 3. Bulk throughput\n")
w("`bench/bulk.c`: one connection carries exactly %s bytes; the clock runs from connect() until the "
  "receiver reports the count back, so a proxy is charged for every byte it still holds. 1 MiB "
  "read()/write() buffers at both ends. haproxy 2.6: `mode tcp`, `option splice-auto`; socat: "
  "`TCP4-LISTEN:…,fork TCP4:…`. sockredir-relay splices.\n" % f(float(machine.get("bulk_bytes", 0))))
if "bulk.png" in plots:
    w("![bulk](bulk.png)\n")
w("| path | Gbit/s | × direct | runs |\n|---|---:|---:|---:|")
out.extend(bulk_rows)
w("")

w("## 4. Latency added per hop\n")
w("`bench/rr.c pingpong`: one connection, %s round trips of 64 B per run (after 100 untimed), "
  "TCP_NODELAY. Chains: services s1…s4, one sockredir-relay each in its own cgroup, rules on one "
  "destination with weights 400, 300, 200, 100; every hop's service is checked to have carried "
  "flows. *Added per hop* is (path − direct) ÷ hops, per round, then the median.\n"
  % machine.get("lat_count", "5000"))
if "latency.png" in plots:
    w("![latency](latency.png)\n")
w("| path | p50 µs | p99 µs | p50 added per hop | p99 added per hop | runs |")
w("|---|---:|---:|---:|---:|---:|")
out.extend(lat_rows)
w("")

w("## 5. Kernel memory per redirected flow\n")
if nflows:
    w("`bench/hold.c` opens %s connections from the attached cgroup and keeps them; a listener that "
      "claims the service accepts and keeps them (worker processes of 15,000 descriptors each, as the "
      "descriptor limit here is 20,000). *Direct*: to a listener no rule matches. *Redirected*: to "
      "127.0.0.2, which a rule sends to the service. /proc/slabinfo and /proc/meminfo are read once "
      "the listener is up and again once every connection is open at both ends; the difference, "
      "per cache as objects in use × object size, is divided by the number of flows. These are "
      "system-wide counters, so other activity on the machine is noise: each cache's figure is the "
      "median over the runs (direct and redirected alternate), and *redirected − direct* is the "
      "layer's share. A redirected flow through a real relay also has the relay's upstream "
      "connection (two more sockets, as *direct*); this weighs the flow as the layer sees it, up to "
      "the proxy's accept.\n" % f(nflows))
    w("| slab cache (bytes per flow) | direct | redirected | redirected − direct |")
    w("|---|---:|---:|---:|")
    out.extend(r for _, _, r in sorted(slab_rows))
    if mem_tot:
        w("| **all caches that moved, counted** | **%s** | **%s** | **%s** |" % (
            f(mem_tot["direct"], "{:,.0f}"), f(mem_tot["redirected"], "{:,.0f}"),
            f(mem_tot["redirected"] - mem_tot["direct"], "{:+,.0f}")))
        w("| **at %s flows** | %s MiB | %s MiB | %s MiB |" % (
            f(nflows), f(mem_tot["direct"] * nflows / 2**20, "{:,.0f}"),
            f(mem_tot["redirected"] * nflows / 2**20, "{:,.0f}"),
            f((mem_tot["redirected"] - mem_tot["direct"]) * nflows / 2**20, "{:+,.0f}")))
    w("\n`kmalloc-cg-*` are memcg-accounted kmalloc caches, where BPF map memory (here the socket "
      "storage of the layer's flow state) is allocated; the sockets themselves are `TCP`, "
      "`sock_inode_cache`, `filp`, `dentry`. `proc_inode_cache` is left out of the sums: those are "
      "/proc inodes for the holders' descriptors, made when something on the machine lists "
      "/proc/PID/fd, not memory the flows need.\n")
    w("Cross-check from /proc/meminfo (bytes per flow, median and range). Slab pages freed by one "
      "run are reused by the next, so these under-count every run after the first and are not used "
      "for the figures above:\n")
    w("| | direct | redirected |\n|---|---:|---:|")
    out.extend(mem_rows)
    mk = med(vals("memory", "layer", "maps_kb"))
    if mk:
        w("\nFixed cost: the layer's maps take %s KiB (bpftool memlock, all `sr_*` maps, "
          "mostly the preallocated rule array and pending-flow LRU), whatever the number of flows." % f(mk))
    w("")
else:
    w("Not measured in this run.\n")

w("## 6. DNS-sized UDP queries through one relay\n")
if udp_rows:
    w("`bench/udprr.c rate`: one client asks 40 B queries and waits for each 100 B answer (matched by "
      "the query's number; one not answered within 1 s is *lost*); %s s per run. *Flows*: every query "
      "on a new connected socket, a new flow each, as a stub resolver asks; *one flow*: every query on "
      "one connected socket. The four paths and both loads alternate within each round, their order "
      "rotating from round to round. sockredir: a rule sends 127.0.0.4 to service udprelay, whose "
      "sockredir-relay --udp learns each flow (SOCKREDIR_FLOW, context, records) and sends it on to "
      "the original destination with its records. Under iptables REDIRECT a UDP relay cannot learn "
      "the original destination (SO_ORIGINAL_DST answers for TCP sockets only), so for both netfilter "
      "paths the same relay binary runs with `--udp-upstream` (a fixed upstream: the same server), "
      "reading no context and no records; conntrack turns REDIRECT's answers back, and under TPROXY "
      "the relay answers from the original destination through a transparent socket per flow. "
      "Conntrack is flushed before each netfilter run. Every relay flow ends 50 ms idle "
      "(`--udp-idle 50`) and is logged as one JSON line.\n" % machine.get("udp_secs", "1"))
    w("| path | flows: queries/s | × direct | × REDIRECT | one flow: queries/s | × direct | × REDIRECT "
      "| lost | runs |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    out.extend(udp_rows)
    w("")
else:
    w("Not measured in this run.\n")

# ---- before and after (BENCH_BEFORE) -------------------------------------------
def side(table, bench, config, metric):
    return table.get((bench, config, metric), {})


def span(v, fmt):
    return "%s (%s–%s)" % (f(med(v), fmt), f(min(v), fmt), f(max(v), fmt)) if v else "–"


if before:
    ba = []     # (what, before, after)
    for n in sorted(set(int(c.split("/")[1]) for (b, c, m) in before if b == "connect" and m == "rate")):
        c = "sockredir/%d" % n
        ba.append(("connect, no rule matching, %s rules: ratio to no layer" % f(n),
                   [ratios(side(t, "connect", c, "rate"), side(t, "connect", c, "base")) for t in (before, rows)],
                   "{:.3f}"))
    for p in ("sockredir", "relay"):
        if side(before, "rate", p, "rate"):
            ba.append(("connection rate, %s: × direct" % names[p],
                       [ratios(side(t, "rate", p, "rate"), side(t, "rate", "direct", "rate")) for t in (before, rows)],
                       "{:.2f}×"))
    if side(before, "bulk", "relay", "gbps"):
        ba.append(("bulk, %s: × direct" % bnames["relay"],
                   [ratios(side(t, "bulk", "relay", "gbps"), side(t, "bulk", "direct", "gbps")) for t in (before, rows)],
                   "{:.2f}×"))
    for p in ("chain1", "chain2", "chain4", "odrelay"):
        for q in ("p50", "p99"):
            if side(before, "latency", p, q):
                ba.append(("64 B round trip, %s: %s added per hop, µs" % (lnames[p], q),
                           [[x / hops[p] for x in diffs(side(t, "latency", p, q), side(t, "latency", "direct", q))]
                            for t in (before, rows)], "{:+.1f}"))
    w("## Before and after\n")
    w("`BENCH_BEFORE=%s`: each round ran every benchmark with the layer, CLI and relay built from %s "
      "and with this build (commit %s), the order turning each round, each with its own direct "
      "runs; a ratio pairs runs of the same build and round. Median over the rounds (min–max).\n"
      % (machine.get("before", "?"), machine.get("before", "?"), machine.get("commit", "?")))
    w("| figure | before | after | rounds |\n|---|---:|---:|---:|")
    for what, (b, a), fmt in ba:
        w("| %s | %s | **%s** | %d |" % (what, span(b, fmt), span(a, fmt), min(len(b), len(a))))
    w("")

w("## Method and pitfalls\n")
w("- One layer per host: the run takes `/run/sockredir/test.lock` like the tests, attaches to "
  "`<cgroup2>/sockredir-bench-PID/on` only (never the root cgroup); baselines and alternatives "
  "run in the sibling `off/`, which the layer does not see.")
w("- Namespaces: loopback only; `ip_local_port_range` 10000–65535 with every listener below 10000, "
  "so no client port can take a listener's; `somaxconn` 65535.")
w("- netfilter configurations get a namespace of their own, deleted afterwards with its rules and "
  "conntrack table; the sockredir runs' namespace never has a netfilter rule.")
w("- Two vCPUs are shared by client, proxies and server, so absolute figures move with everything "
  "else on the VM; read the ratios. The iptables 10k/100k rows are an order of magnitude apart, "
  "sockredir's rows differ from the baseline by a few percent, inside the run-to-run noise of "
  "single runs — which is why each is a median of paired rounds.")
w("- Reproduce: `sudo make bench` (about 3 minutes of benchmarks after the build); `sudo make bench-smoke` runs every path once "
  "in seconds and writes to build/bench/smoke/.")
w("- Before and after in one run: `BENCH_BEFORE=REV make bench` (as root) (or `BENCH_BEFORE=REV sh bench/run.sh "
  "full NAME...`) builds git revision REV in build/bench/before and runs each round with both builds; "
  "see the top of bench/run.sh.")

w("")

# ---- the hand-written notes ----------------------------------------------------
generated = "\n".join(out) + "\n"
headings = set(l for l in generated.splitlines() if l.startswith("#")) | {"## Before and after"}
for l in old_generated.decode(errors="replace").splitlines():
    if l.startswith("#") and l not in headings:
        refuse("%r is above the line %r..., where this script writes; move that section below "
               "the line (or, if report.py's heading was renamed, rename it there too)" % (l, MARK[:37]))
for png in plots:
    os.replace(os.path.join(work, png), os.path.join(dst, png))
with open(report + ".new", "wb") as fh:
    fh.write(generated.encode() + notes)
os.replace(report + ".new", report)
