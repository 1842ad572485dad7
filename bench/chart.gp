# chart.gp: rows/s by batch size for every contender (bench/run.sh).
#   gnuplot -e "datafile='...'; outfile='...'" bench/chart.gp
# datafile columns: rows, then for wire fanfare plain plpgsql copy the rows/s
# on a new connection per call and on a persistent connection (NaN where not
# measured): 2 3 | 4 5 | 6 7 | 8 9 | 10 11

set terminal svg size 820,480 dynamic font "sans,12" background "white"
set output outfile
set title "Creating consumers: rows per second by batch size (median of rounds)"
set xlabel "rows per batch"
set ylabel "rows/s"
set logscale xy
set format x "%.0s%c"
set format y "%.0s%c"
set key outside right top
set grid xtics ytics
set datafile missing "NaN"
plot datafile using 1:2 with linespoints lw 2 pt 7 lc 1 title "fanfare wire path", \
     datafile using 1:3 with linespoints lw 1 dt 2 pt 6 lc 1 title "  (persistent conn.)", \
     datafile using 1:4 with linespoints lw 2 pt 5 lc 2 title "fanfare jsonb path", \
     datafile using 1:5 with linespoints lw 1 dt 2 pt 4 lc 2 title "  (persistent conn.)", \
     datafile using 1:6 with linespoints lw 2 pt 9 lc 3 title "(a) plain SQL", \
     datafile using 1:7 with linespoints lw 1 dt 2 pt 8 lc 3 title "  (persistent conn.)", \
     datafile using 1:8 with linespoints lw 2 pt 11 lc 4 title "(b) PL/pgSQL", \
     datafile using 1:9 with linespoints lw 1 dt 2 pt 10 lc 4 title "  (persistent conn.)", \
     datafile using 1:10 with linespoints lw 2 pt 13 lc 7 title "(c) COPY", \
     datafile using 1:11 with linespoints lw 1 dt 2 pt 12 lc 7 title "  (persistent conn.)"
