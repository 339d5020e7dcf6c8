//! Replays the fuzz corpus (fuzz/corpus/openflow_decode) through the fuzz target's body as
//! an ordinary test, so regressions found by fuzzing stay fixed on stable Rust.

mod openflow_oracle;

use std::path::PathBuf;

use shared::openflow::messages::{Message, OfMessage};
use shared::openflow::text::parse_flow;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/openflow_decode")
}

fn text_corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/openflow_text")
}

#[test]
fn replay_text_fuzz_corpus() {
    let dir = text_corpus_dir();
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("text fuzz corpus directory") {
        // The fuzzer may be rewriting the corpus concurrently; skip vanished files.
        let Ok(data) = std::fs::read(e.unwrap().path()) else {
            continue;
        };
        shared::openflow::fuzz_text_one(&data);
        n += 1;
    }
    assert!(n > 0, "empty corpus in {}", dir.display());
}

#[test]
fn replay_fuzz_corpus() {
    let dir = corpus_dir();
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("fuzz corpus directory") {
        // The fuzzer may be rewriting the corpus concurrently; skip vanished files.
        let Ok(data) = std::fs::read(e.unwrap().path()) else {
            continue;
        };
        shared::openflow::fuzz_one(&data);
        n += 1;
    }
    assert!(n > 0, "empty corpus in {}", dir.display());
}

/// Regenerate the seed corpus: `cargo test -p shared --test openflow_fuzz_corpus -- --ignored`.
#[test]
#[ignore]
fn generate_seed_corpus() {
    let dir = corpus_dir();
    std::fs::create_dir_all(&dir).unwrap();
    for (i, f) in openflow_oracle::flows::FLOWS.iter().enumerate() {
        let fm = parse_flow(f).unwrap();
        let bytes = OfMessage::new(i as u32, Message::FlowMod(fm)).encode();
        std::fs::write(dir.join(format!("seed-flow-{i:03}")), &bytes).unwrap();
        std::fs::write(dir.join(format!("seed-text-{i:03}")), f.as_bytes()).unwrap();
        std::fs::create_dir_all(text_corpus_dir()).unwrap();
        std::fs::write(text_corpus_dir().join(format!("seed-text-{i:03}")), f.as_bytes()).unwrap();
    }
}
