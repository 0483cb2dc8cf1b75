#!/usr/bin/env bash
# Roster at scale (design.md: 100,000 instances under 150 MB resident per
# server, restart and catch-up under 5 s; 1,000,000 over 10,000 services
# under 1.2 GB per server, restart under 10 s, a new follower caught up by
# snapshot under 30 s). Builds the static binary and ./bench/scale, which
# runs real `roster server` processes with data dirs (fsync on) on loopback
# ports, registers SERVICES x PER instances with CLIENTS concurrent clients,
# renews them all with PUT /v1/heartbeats, and prints VmRSS (bbolt's mmap
# included) after a GC, disk use, restart time of one server, catch-up time
# of a restarted follower and of a new (fourth) server in a 3-server
# cluster. Mode sweep runs the single-server measurement at each of SIZES
# and plots resident memory and restart time against the instance count
# with gnuplot (Debian's gnuplot-nox; the script stops early if it is
# missing) into PLOT.
# Results and how to read them: docs/bench/scale.md.
# Usage: scripts/bench-scale.sh [single|cluster|both|sweep] [extra ./bench/scale flags]
#        env: SERVICES (1000), PER (100), CLIENTS (64), EXTRA (10000);
#             sweep: SIZES (10000,100000), PLOT (bench-scale.png), CSV (kept next to PLOT)
#        1,000,000: SERVICES=10000 scripts/bench-scale.sh both
#                   SIZES=10000,100000,300000,1000000 scripts/bench-scale.sh sweep
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-both}; shift || true
plot=${PLOT:-bench-scale.png}
csv=${CSV:-${plot%.png}.csv}
if [ "$mode" = sweep ] && ! command -v gnuplot >/dev/null; then
  echo "bench-scale.sh sweep plots with gnuplot: apt-get install gnuplot-nox" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -o "$work/roster" ./cmd/roster
go build -o "$work/scale" ./bench/scale
rev=$(git rev-parse --short HEAD) # the commit built, named on the plot
echo "commit $rev $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
started=$(date +%s)
if [ "$mode" = sweep ]; then
  rm -f "$csv"
  "$work/scale" -roster "$work/roster" -mode sweep -sizes "${SIZES:-10000,100000}" -csv "$csv" \
    -per "${PER:-100}" -clients "${CLIENTS:-64}" "$@"
  # Columns (bench/scale's csvHeader): 1 instances, 3 rss_mb,
  # 11 restart_ready_s, 12 restart_listed_s, 14 rss_after_restart_mb.
  gnuplot <<EOF
set terminal pngcairo size 1200,520 font ",11" noenhanced
set output "$plot"
set datafile separator ","
set key top left opaque box
set logscale x 10
set offsets graph 0.04, graph 0.04, 0, 0
set grid
set xlabel "registered instances (services of ${PER:-100}, one server, fsync on)"
set format x "%.0s%c"
set multiplot layout 1,2 title "Roster at scale, commit $rev, $(nproc) shared cores, $(date -u +%F)"
set title "resident memory (VmRSS, bbolt's mmap included)"
set ylabel "MB"
set yrange [0:1400<*]
plot "$csv" using 1:3 with linespoints lw 2 pt 7 title "after load, settled", \
     "" using 1:14 with linespoints lw 2 pt 5 title "after restart, settled", \
     "" using 1:14:(sprintf("%.0f", \$14)) with labels offset 2.5,-0.8 notitle, \
     "" using 1:3:(sprintf("%.0f", \$3)) with labels offset -2.5,0.8 notitle, \
     1228.8 with lines dt 2 lc rgb "red" title "target at 1M: 1.2 GB"
set title "restart (SIGTERM, start again)"
set ylabel "seconds from process start"
set yrange [0:12<*]
plot "$csv" using 1:11 with linespoints lw 2 pt 7 title "/readyz 200", \
     "" using 1:12 with linespoints lw 2 pt 5 title "every instance listed", \
     "" using 1:12:(sprintf("%.1f", \$12)) with labels offset 0,1 notitle, \
     10 with lines dt 2 lc rgb "red" title "target at 1M: 10 s"
unset multiplot
EOF
  echo "plot: $plot (data: $csv)"
else
  "$work/scale" -roster "$work/roster" -mode "$mode" \
    -services "${SERVICES:-1000}" -per "${PER:-100}" -clients "${CLIENTS:-64}" -extra "${EXTRA:-10000}" "$@"
fi
echo "took $(( $(date +%s) - started )) s; load average after $(cut -d' ' -f1-3 /proc/loadavg)"
