//! Seed runner. `SIM_SEED=S` runs one seed (a replay); otherwise `SIM_SEEDS=N`
//! seeds from `SIM_FIRST_SEED` (default 1). Each seed is a fresh madsim runtime, so
//! a seed's run depends on nothing but the seed and the commit.
//!
//! Output: a line per failing seed with its reason, fingerprint and the command that
//! replays it, then one summary line.

use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use metastore::mutant::Mutant;

/// What a scenario reports for one seed.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Hash of every observable event, in order: equal across replays of a seed.
    pub fingerprint: u64,
    pub ops_checked: u64,
    /// Ops acknowledged by the store (the rest had unknown outcomes).
    pub ops_acked: u64,
    /// Faults injected, by kind (`crash`, the others, fail points as `fp:NAME`).
    pub kinds: BTreeMap<String, u64>,
    pub sim_time: Duration,
    /// The seed's checks found nothing wrong, but it judged too little for that to
    /// mean anything (why, when so). Not a pass: such seeds are counted and shown
    /// with their replay command, and a run where they are more than 1% of its
    /// seeds fails.
    pub inconclusive: Option<String>,
}

/// FNV-1a over event descriptions: the fingerprint of a run.
#[derive(Clone, Debug)]
pub struct Fingerprint {
    hash: u64,
    /// `SIM_VERBOSE` is set: print every event.
    verbose: bool,
}

impl Default for Fingerprint {
    fn default() -> Self {
        Fingerprint { hash: 0xcbf2_9ce4_8422_2325, verbose: std::env::var_os("SIM_VERBOSE").is_some() }
    }
}

impl Fingerprint {
    /// Add one event (printed too when `SIM_VERBOSE` is set).
    pub fn add(&mut self, event: &str) {
        if self.verbose {
            println!("  event: {}", event.chars().take(200).collect::<String>());
        }
        for b in event.as_bytes().iter().chain(b"\n") {
            self.hash ^= *b as u64;
            self.hash = self.hash.wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub fn value(&self) -> u64 {
        self.hash
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// The seeds to run: a single replay seed, or a range.
pub fn seeds(default_count: u64) -> Vec<u64> {
    if let Some(seed) = env_u64("SIM_SEED") {
        return vec![seed];
    }
    let first = env_u64("SIM_FIRST_SEED").unwrap_or(1);
    let count = env_u64("SIM_SEEDS").unwrap_or(default_count);
    (first..first + count).collect()
}

/// The mutant `SIM_MUTANT` names (see `metastore::mutant`), if any. An unknown name
/// is an error: a typo must not pass as "caught".
pub fn mutant_from_env() -> Option<Mutant> {
    let name = std::env::var("SIM_MUTANT").ok().filter(|n| !n.is_empty())?;
    match Mutant::from_name(&name) {
        Some(m) => Some(m),
        None => {
            let known: Vec<&str> = metastore::mutant::ALL.iter().map(|m| m.name()).collect();
            panic!("SIM_MUTANT={name}: no such mutant (known: {})", known.join(", "))
        }
    }
}

/// Whether this process runs a mutant (determinism checks then stand aside).
pub fn mutating() -> bool {
    std::env::var("SIM_MUTANT").is_ok_and(|n| !n.is_empty())
}

fn run_seed<F, Fut>(seed: u64, scenario: &F) -> Result<Outcome, String>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Outcome, String>> + 'static,
{
    metastore::buggify::arm(&[]);
    let mut rt = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    rt.set_time_limit(Duration::from_secs(600));
    match std::panic::catch_unwind(AssertUnwindSafe(|| rt.block_on(scenario()))) {
        Ok(r) => r,
        Err(p) => Err(format!("panicked: {}", panic_message(&p))),
    }
}

/// Mutation mode: run seeds until one fails. Passes (prints `caught`) if one does,
/// fails (prints `survived`) if none does.
fn hunt<F, Fut>(name: &str, mutant: Mutant, seeds: &[u64], scenario: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Outcome, String>> + 'static,
{
    metastore::mutant::set(Some(mutant));
    for (n, &seed) in seeds.iter().enumerate() {
        if let Err(reason) = run_seed(seed, &scenario) {
            metastore::mutant::set(None);
            let reason: String = reason.chars().take(300).collect();
            println!(
                "MUTANT {} caught by {name} at seed {seed} after {} seeds: {reason}",
                mutant.name(),
                n + 1
            );
            println!("  the bug: {}", mutant.describe());
            println!("  replay: SIM_MUTANT={} ci/replay-seed {seed} {name}", mutant.name());
            return;
        }
    }
    metastore::mutant::set(None);
    println!("MUTANT {} survived {name} over {} seeds", mutant.name(), seeds.len());
    panic!("mutant {} survived {name} over {} seeds: the checks are too weak", mutant.name(), seeds.len());
}

/// Run `scenario` once per seed and panic (failing the test) if any seed failed.
/// With `SIM_MUTANT` set, hunt for a seed that catches the mutant instead.
pub fn run<F, Fut>(name: &str, default_count: u64, scenario: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Outcome, String>> + 'static,
{
    let seeds = seeds(default_count);
    // `SIM_LOG=info` (any tracing filter) prints the store's logs, in simulated time.
    if let Ok(filter) = std::env::var("SIM_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .without_time()
            .with_ansi(false)
            .try_init();
    }
    if let Some(mutant) = mutant_from_env() {
        return hunt(name, mutant, &seeds, scenario);
    }
    run_seeds(name, &seeds, std::env::var("SIM_SEED").is_ok(), scenario);
}

/// Run `scenario` once for each of `seeds`, print the summary, and panic (failing
/// the test) if any seed failed. `replaying`: print each seed's fingerprint.
pub fn run_seeds<F, Fut>(name: &str, seeds: &[u64], replaying: bool, scenario: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Outcome, String>> + 'static,
{
    let mut total = Outcome::default();
    let mut failures = Vec::new();
    let mut inconclusive = Vec::new();
    // `SIM_TIME_BUDGET_S`: stop starting new seeds once this much wall time is spent.
    let budget = env_u64("SIM_TIME_BUDGET_S").map(Duration::from_secs);
    let began = std::time::Instant::now();
    let mut ran = 0;
    for &seed in seeds {
        if budget.is_some_and(|b| began.elapsed() >= b) {
            break;
        }
        ran += 1;
        match run_seed(seed, &scenario) {
            Ok(o) => {
                if let Some(why) = &o.inconclusive {
                    println!("{name}: seed {seed} INCONCLUSIVE: {why}");
                    println!("  replay: ci/replay-seed {seed} {name}");
                    inconclusive.push(seed);
                } else if replaying {
                    println!("{name}: seed {seed} ok, fingerprint {:016x}", o.fingerprint);
                }
                total.ops_checked += o.ops_checked;
                total.ops_acked += o.ops_acked;
                total.sim_time += o.sim_time;
                for (k, n) in o.kinds {
                    *total.kinds.entry(k).or_default() += n;
                }
            }
            Err(reason) => {
                println!("{name}: seed {seed} FAILED: {reason}");
                println!("  replay: ci/replay-seed {seed} {name}");
                failures.push(seed);
            }
        }
    }
    println!(
        "{name}: {ran} seeds, {:.2} simulated hours, {} crashes, {} other faults, {} ops checked ({} acknowledged), {} violations",
        total.sim_time.as_secs_f64() / 3600.0,
        total.crashes(),
        total.other_faults(),
        total.ops_checked,
        total.ops_acked,
        failures.len()
    );
    if !total.kinds.is_empty() {
        let kinds: Vec<String> = total.kinds.iter().map(|(k, n)| format!("{k}={n}")).collect();
        println!("{name}: faults by kind: {}", kinds.join(" "));
    }
    if !inconclusive.is_empty() {
        println!("{name}: {} of {ran} seeds inconclusive (at most 1% may be)", inconclusive.len());
    }
    assert!(
        failures.is_empty(),
        "{name}: failing seeds {failures:?} (replay each with ci/replay-seed SEED {name})"
    );
    assert!(
        inconclusive.len() * 100 <= ran,
        "{name}: {} of {ran} seeds judged too little to mean anything, more than 1%: {inconclusive:?}",
        inconclusive.len()
    );
}

impl Outcome {
    /// Count `n` faults of `kind`.
    pub fn count(&mut self, kind: &str, n: u64) {
        *self.kinds.entry(kind.to_string()).or_default() += n;
    }

    pub fn crashes(&self) -> u64 {
        self.kinds.get("crash").copied().unwrap_or(0)
    }

    /// Every injected fault but crashes.
    pub fn other_faults(&self) -> u64 {
        self.kinds.iter().filter(|(k, _)| *k != "crash").map(|(_, n)| n).sum()
    }
}

/// Swarm testing of fail points: each is armed on some seeds, with a firing
/// probability of its own; returns the choice (for the fingerprint).
pub fn arm_fail_points(rng: &mut impl madsim::rand::Rng) -> String {
    let mut armed = Vec::new();
    for &point in metastore::buggify::POINTS {
        if rng.gen_bool(0.25) {
            // Compactions are rare (a few per seed): that point fires more often.
            let p = if point.ends_with("stall") {
                rng.gen_range(0.02..0.2)
            } else if point == "apply.compact" {
                rng.gen_range(0.1..0.5)
            } else {
                rng.gen_range(0.001..0.02)
            };
            armed.push((point, p));
        }
    }
    // Debugging aid: SIM_FAIL_POINTS_OFF=a,b disarms those (the draws stay the same).
    if let Ok(off) = std::env::var("SIM_FAIL_POINTS_OFF") {
        armed.retain(|(p, _)| !off.split(',').any(|o| o == *p || o == "all"));
    }
    metastore::buggify::arm(&armed);
    format!("fail points {armed:?}")
}

/// Count what fired, then disarm every fail point: the faults are over.
pub fn disarm_fail_points(outcome: &mut Outcome) {
    count_fail_points(outcome);
    metastore::buggify::arm(&[]);
}

/// The fail points that fired this seed, as fault kinds.
pub fn count_fail_points(outcome: &mut Outcome) {
    for (point, n) in metastore::buggify::fired() {
        outcome.count(&format!("fp:{point}"), n);
    }
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic".to_string()
    }
}
