//! Replays the corpora of the `channels` and `ovsdb` fuzz targets (fuzz/corpus/) through the
//! targets' bodies, so that every input ever found keeps being checked by `cargo test`.

use std::path::PathBuf;

fn replay(target: &str, body: fn(&[u8])) -> usize {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        body(&std::fs::read(&path).unwrap());
        n += 1;
    }
    n
}

#[test]
fn channels_corpus() {
    assert!(replay("channels", shared::fuzzing::channels) > 0);
}

#[test]
fn ovsdb_corpus() {
    assert!(replay("ovsdb", shared::fuzzing::ovsdb) > 0);
}
