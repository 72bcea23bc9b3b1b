module intplat/bench/loadgen

go 1.22
