//! The intent model the kernel embeds (`kernel/models/intent.gguf`, committed as a build
//! input so that `cargo xtask qemu` never needs candle) is what the trainer makes from the
//! committed dataset and seed, and it meets the accuracy bars on phrasings it was never
//! trained on.
//!
//! Two checks: the file records a digest of everything its training consumed (the expanded
//! dataset, the held-out set, seed, steps and hyper-parameters), which must equal the digest
//! of what the committed dataset and trainer give today (seconds; always run); and a full
//! retraining that must reproduce the file's behaviour (about 15 minutes on two cores: run
//! by `cargo xtask test --slow`, ignored otherwise).

use inference::gguf::Gguf;
use kingly_ml::{train_intent, Options, META_INPUTS, META_SEED, META_STEPS};
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The committed file and the options that made it (from its metadata).
fn committed() -> (Vec<u8>, Options) {
    let path = root().join("kernel/models/intent.gguf");
    let bytes = std::fs::read(&path).expect("kernel/models/intent.gguf is committed");
    let gguf = Gguf::parse(&bytes).expect("the committed model parses");
    let seed: u64 =
        gguf.get(META_SEED).and_then(|v| v.as_str()).and_then(|s| s.parse().ok()).expect("seed recorded in the file");
    let steps = gguf.get(META_STEPS).and_then(|v| v.as_u64()).expect("steps recorded in the file") as usize;
    let options = Options {
        data: root().join("xtask/ml/intents.txt"),
        output: path,
        report: None,
        seed,
        steps,
        eval_only: true,
        decisions: None,
    };
    (bytes, options)
}

const RETRAIN: &str = "the dataset or the trainer changed without retraining: run `cargo xtask model train-intent` \
                       and commit kernel/models/";

#[test]
fn the_committed_intent_model_was_trained_on_the_committed_dataset() {
    let (bytes, options) = committed();
    let gguf = Gguf::parse(&bytes).expect("the committed model parses");
    let recorded = gguf.get(META_INPUTS).and_then(|v| v.as_str()).expect("the inputs digest is recorded in the file");
    let today = kingly_ml::inputs_digest(&options).expect("the dataset expands");
    assert_eq!(recorded, today, "{RETRAIN}");
}

/// The bars of the plain-language issue, on the held-out phrasings and both independent sets,
/// decided as the kernel decides (thresholds and gate applied).
#[test]
fn the_committed_intent_model_meets_its_accuracy_bars() {
    let (bytes, options) = committed();
    let held_out = kingly_ml::held_out_examples(&options).expect("held-out set");
    let e = kingly_ml::evaluate(&bytes, &held_out).expect("the model runs");
    let (right, total) = e.in_domain();
    assert!(right as f64 >= 0.97 * total as f64, "held-out in-domain {right}/{total} < 97%");
    let (refused, should) = e.refused();
    assert!(refused as f64 >= 0.98 * should as f64, "held-out refusals {refused}/{should} < 98%");
    assert_eq!(e.state_changing(), 0, "a request that should be refused got a state-changing decision");
    let sets = kingly_ml::independent_examples(&options).expect("independent sets");
    assert_eq!(sets.len(), 2, "both independent sets are committed beside the dataset");
    for (name, examples) in sets {
        let e = kingly_ml::evaluate(&bytes, &examples).expect("the model runs");
        let (right, total) = (e.gated_correct, e.total);
        assert!(right as f64 >= 0.95 * total as f64, "{name}: {right}/{total} < 95%");
        assert_eq!(e.state_changing(), 0, "{name}: a request that should be refused got a state-changing decision");
        // The same bar on the set's phrasings the dataset does not also hold (its writer never
        // saw the dataset, but "reboot" is "reboot"): accuracy on requests never trained on.
        let (unseen, total, shared) = kingly_ml::unseen_part(&options, name).expect("parses").expect("exists");
        let e = kingly_ml::evaluate(&bytes, &unseen).expect("the model runs");
        let (right, of) = (e.gated_correct, e.total);
        assert!(
            right as f64 >= 0.95 * of as f64,
            "{name}, the {} of {total} phrasings not in the dataset: {right}/{of} < 95%",
            total - shared
        );
        assert_eq!(e.state_changing(), 0, "{name} (unseen part): a state-changing decision on a refusal");
    }
}

#[test]
#[ignore = "slow (about 15 minutes on two cores): run by `cargo xtask test --slow`"]
fn the_committed_intent_model_is_regenerated_from_its_dataset_and_seed() {
    let (committed, options) = committed();
    let output = std::env::temp_dir().join(format!("kingly-intent-{}.gguf", std::process::id()));
    let options = Options { output: output.clone(), eval_only: false, ..options };
    let held_out = train_intent(&options).expect("training runs");
    let fresh = std::fs::read(&output).expect("the trainer wrote its file");
    let _ = std::fs::remove_file(&output);

    let accuracy = held_out.gated_correct as f64 / held_out.total as f64;
    assert!(accuracy >= 0.95, "held-out accuracy {:.1}% < 95%", accuracy * 100.0);
    assert_eq!(fresh.len(), committed.len(), "the regenerated model differs in size: {RETRAIN}");
    if fresh == committed {
        return;
    }
    // The same code on another CPU may sum floats in another order (candle's matrix kernels
    // pick their blocking from the cache sizes), which changes the trained weights' last
    // bits. Then the two models must still behave the same on everything never trained on.
    let examples = kingly_ml::evaluation_examples(&options).expect("evaluation set");
    let ours = kingly_ml::proposals(&fresh, &examples).expect("regenerated model runs");
    let theirs = kingly_ml::proposals(&committed, &examples).expect("committed model runs");
    let same = ours.iter().zip(&theirs).filter(|(a, b)| a == b).count();
    eprintln!("note: regenerated bytes differ from the committed file; {same}/{} answers agree", examples.len());
    assert!(
        same as f64 >= 0.95 * examples.len() as f64,
        "the regenerated model differs from kernel/models/intent.gguf in {} of {} answers: {RETRAIN}",
        examples.len() - same,
        examples.len()
    );
}
