//! `rules_file` and `model_file`: one rule or model file in a folder, loaded.

use super::scratch;

/// Bytes as the one rule file of a rules folder (`src/detect/load.rs`).
/// Problems are answers; a panic is not, nor is a rule set that loads from
/// a file that is not UTF-8.
pub fn rules_file(data: &[u8]) {
    let dir = scratch();
    std::fs::write(dir.path().join("fuzz.toml"), data).expect("a rule file");
    let clock = palisade::state::limiter::EventClock::default();
    let loaded = palisade::detect::load_rules(Some(dir.path()), &clock, 10_000);
    if loaded.is_ok() {
        assert!(
            std::str::from_utf8(data).is_ok(),
            "rules loaded from bytes that are not UTF-8"
        );
    }
}

/// Bytes as the one model file of a models folder (`src/model/mod.rs`).
pub fn model_file(data: &[u8]) {
    let dir = scratch();
    std::fs::write(dir.path().join("fuzz.toml"), data).expect("a model file");
    let loaded = palisade::model::load_model(Some(dir.path()), None);
    if loaded.is_ok() {
        assert!(
            std::str::from_utf8(data).is_ok(),
            "a model loaded from bytes that are not UTF-8"
        );
    }
}
