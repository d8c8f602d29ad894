//! Parse + check + emit over every bundled spec, beside a plain `serde_yaml` parse of the same
//! files (the peer): the ratio says what located diagnostics and code generation cost on top
//! of reading YAML at all.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};

fn specs() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs");
    oauthgen_codegen::spec_files(&dir)
        .unwrap()
        .into_iter()
        // The full path: a variant's base is read from beside it.
        .map(|p| (p.to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect()
}

fn bench(c: &mut Criterion) {
    let specs = specs();
    let mut group = c.benchmark_group(format!("{} specs", specs.len()));
    group.bench_function("serde_yaml parse (peer)", |b| {
        b.iter(|| {
            for (_, text) in &specs {
                black_box(serde_yaml::from_str::<serde_yaml::Value>(text).unwrap());
            }
        });
    });
    group.bench_function("oauthgen parse + check", |b| {
        b.iter(|| {
            for (path, text) in &specs {
                black_box(oauthgen_codegen::parse_str(path, text).unwrap());
            }
        });
    });
    group.bench_function("oauthgen parse + check + emit", |b| {
        b.iter(|| {
            for (path, text) in &specs {
                let spec = oauthgen_codegen::parse_str(path, text).unwrap();
                black_box(oauthgen_codegen::generate_file(&[(path, &spec)]).unwrap());
            }
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
