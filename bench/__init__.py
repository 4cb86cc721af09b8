"""townhall media benchmarks: each module prints figures and writes bench/results/<name>.json."""
