# chart.gp: rows/s by batch size for every contender (bench/run.sh).
#   gnuplot -e "datafile='...'; outfile='...'" bench/chart.gp
# datafile columns: rows fanfare plain plpgsql copy (NaN where not measured)

set terminal svg size 760,440 dynamic font "sans,12" background "white"
set output outfile
set title "Creating consumers: rows per second by batch size (median of rounds)"
set xlabel "rows per batch"
set ylabel "rows/s"
set logscale xy
set format x "%.0s%c"
set format y "%.0s%c"
set key bottom right
set grid xtics ytics
set datafile missing "NaN"
plot datafile using 1:2 with linespoints lw 2 pt 7 title "fanfare", \
     datafile using 1:3 with linespoints lw 2 pt 5 title "(a) plain SQL", \
     datafile using 1:4 with linespoints lw 2 pt 9 title "(b) PL/pgSQL", \
     datafile using 1:5 with linespoints lw 2 pt 11 title "(c) COPY (no validation, no response)"
