//! ringftp criterion benchmarks live in `benches/`.
