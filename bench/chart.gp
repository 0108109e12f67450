# Bar chart of throughput relative to the epoll baseline, one group per
# scenario. Called by bench/run.py: gnuplot -e "data='...'; out='...'" chart.gp
set terminal pngcairo size 1100,520 font ",10"
set output out
set title "Throughput relative to a hand-written epoll server (1.0), median of runs"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set yrange [0:*]
set ylabel "req/s (streaming: MB/s) / epoll"
set grid ytics
set key outside right top
set xtics rotate by -20 scale 0
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lw 1.5
plot for [col=2:*] data using col:xtic(1) title columnheader(col)
