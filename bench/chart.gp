# chart.gp - draws tpbench's chart: every case as "times better than the
# default kernel pipe" (log scale), one bar per transport.
# usage: gnuplot -e "datafile='chart.dat'; outfile='x.png'; machine='...'" chart.gp
if (!exists("datafile")) datafile = 'chart.dat'
if (!exists("outfile")) outfile = 'tpbench.png'
if (!exists("machine")) machine = ''

set terminal pngcairo size 1400,650 font ",10"
set output outfile
set title sprintf("tpbench: speed relative to a default kernel pipe (higher is better; latency inverted)\n%s", machine) noenhanced
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y 10
set yrange [*:*]
set ylabel "x kernel pipe (default size)"
set grid ytics
set xtics rotate by -30 scale 0 nomirror
set key top left noenhanced
set datafile missing '-'
set arrow from graph 0, first 1 to graph 1, first 1 nohead dashtype 2 lc rgb "#555555"
plot datafile using 2:xtic(1) title columnhead(2) lc rgb "#1f77b4", \
     '' using 3 title columnhead(3) lc rgb "#7f7f7f", \
     '' using 4 title columnhead(4) lc rgb "#bcbd22", \
     '' using 5 title columnhead(5) lc rgb "#ff7f0e", \
     '' using 6 title columnhead(6) lc rgb "#2ca02c"
