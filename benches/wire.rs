//! What the keyed check on links between hosts costs per datagram: wrapping a frame for the
//! other host and checking it there, with the lab key (BLAKE3 keyed tag) and without
//! (`vmlab.cross_host_check: "none"`), for a small and a full-size frame.
//!
//!   cargo bench --bench wire

// Tests and benchmarks drive the vmlab binary and look at what it left behind: the front
// ends' rules in clippy.toml (no processes, no files) are not theirs.
#![allow(clippy::disallowed_methods)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use vmlab::engine::api::wire::{self, Header, KEY_LEN, Kind, RunKeys, Tagging};
use vmlab::plan::End;

/// The receiving relay run's nonce each frame is made for.
const RUN: wire::Nonce = [0xa5; wire::NONCE_LEN];

fn bench(c: &mut Criterion) {
    let keys = RunKeys::new(&[7u8; KEY_LEN], &RUN);
    let plain = Tagging::Unkeyed {
        hint: wire::hint_of(&RUN),
    };
    let mut g = c.benchmark_group("wrap and check one datagram");
    for size in [64usize, 1514] {
        let frame = vec![0x5a; size];
        g.throughput(Throughput::Bytes(size as u64));
        for (label, t) in [("keyed", Tagging::Keyed(&keys)), ("unkeyed", plain)] {
            g.bench_with_input(BenchmarkId::new(label, size), &frame, |b, frame| {
                let mut out = Vec::with_capacity(size + 64);
                let mut seq = 0u64;
                b.iter(|| {
                    seq += 1;
                    let h = Header {
                        kind: Kind::Frame,
                        from: End::A,
                        attached: true,
                        link: 3,
                        epoch: 1,
                        seq,
                    };
                    wire::encode(&h, black_box(frame), t, &mut out);
                    let (_, f) = wire::decode(black_box(&out), 3, End::Z, t).expect("valid");
                    black_box(f.len())
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
