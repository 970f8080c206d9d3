//! Property: whatever sequence of appends, syncs, injected faults and crashes (any
//! mode), reopening replays a prefix of what was written that contains every
//! record a sync acknowledged.

use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::env::disk::Disk;
use crate::env::sim_disk::{CrashMode, FaultConfig, SimDisk};

#[derive(Clone, Debug)]
enum Op {
    Append { kind: u8, payload: Vec<u8> },
    Sync,
    Crash(CrashMode),
}

fn op() -> impl Strategy<Value = Op> {
    let append = (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..48))
        .prop_map(|(kind, payload)| Op::Append { kind, payload });
    let crash = proptest::sample::select(CrashMode::ALL.to_vec()).prop_map(Op::Crash);
    prop_oneof![6 => append, 3 => Just(Op::Sync), 1 => crash]
}

fn faults() -> impl Strategy<Value = FaultConfig> {
    (0.0..0.1f64, 0.0..0.1f64, 0.0..0.3f64).prop_map(|(a, s, p)| FaultConfig {
        append_eio_probability: a,
        sync_eio_probability: s,
        power_loss_on_sync_probability: p,
    })
}

/// What the test knows about the log.
#[derive(Default)]
struct Model {
    /// Records known to be in the log (replayed, or acknowledged by a sync).
    durable: Vec<Record>,
    /// Appended since the last successful sync.
    pending: Vec<Record>,
    /// The batch of a failed sync: written maybe in part, maybe torn.
    maybe_written: Vec<Record>,
    next_index: u64,
}

struct Harness {
    sim: SimDisk,
    disk: Arc<dyn Disk>,
    opts: WalOptions,
    faults: FaultConfig,
}

const DIR: &str = "/n/wal";

impl Harness {
    /// Reopen with faults off (a failed open would only mean "crash and retry").
    fn reopen(&self, model: &mut Model) -> Result<Wal, TestCaseError> {
        self.sim.set_faults(FaultConfig::none());
        let opened = Wal::open(self.disk.clone(), Path::new(DIR), self.opts);
        self.sim.set_faults(self.faults);
        let (wal, replayed) = opened.map_err(|e| TestCaseError::fail(format!("open failed: {e}")))?;
        let candidates: Vec<&Record> = model.durable.iter().chain(&model.maybe_written).collect();
        prop_assert!(replayed.len() >= model.durable.len(), "lost acknowledged records");
        prop_assert!(replayed.len() <= candidates.len(), "replayed records never written");
        for (got, want) in replayed.iter().zip(&candidates) {
            prop_assert_eq!(got, *want);
        }
        model.durable = replayed;
        model.pending.clear();
        model.maybe_written.clear();
        Ok(wal)
    }

    fn apply(&self, wal: &mut Wal, model: &mut Model, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::Append { kind, payload } => {
                model.next_index += 1;
                let record = Record { kind, index: model.next_index, payload };
                match wal.append(record.kind, record.index, &record.payload) {
                    Ok(_) => model.pending.push(record),
                    Err(e) => prop_assert!(wal.is_poisoned(), "append failed unpoisoned: {}", e),
                }
            }
            Op::Sync => match wal.sync() {
                Ok(report) => {
                    prop_assert_eq!(report.records, model.pending.len());
                    model.durable.append(&mut model.pending);
                }
                Err(_) => {
                    prop_assert!(wal.is_poisoned());
                    model.maybe_written.append(&mut model.pending);
                }
            },
            Op::Crash(mode) => *wal = self.crash_and_reopen(model, mode)?,
        }
        Ok(())
    }

    /// Power-cycle the disk (the old Wal's handle dies with it) and reopen.
    fn crash_and_reopen(&self, model: &mut Model, mode: CrashMode) -> Result<Wal, TestCaseError> {
        self.sim.crash(mode);
        self.reopen(model)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn crashes_replay_a_prefix_containing_every_synced_record(
        seed in any::<u64>(),
        faults in faults(),
        segment_size_bytes in 48u64..400,
        ops in proptest::collection::vec(op(), 1..80),
        final_crash in proptest::sample::select(CrashMode::ALL.to_vec()),
    ) {
        let sim = SimDisk::new(seed, faults);
        let harness = Harness {
            disk: Arc::new(sim.clone()),
            sim,
            opts: WalOptions { segment_size_bytes },
            faults,
        };
        let mut model = Model::default();
        let mut wal = harness.reopen(&mut model)?;
        for op in ops {
            harness.apply(&mut wal, &mut model, op)?;
        }
        drop(wal);
        harness.crash_and_reopen(&mut model, final_crash)?;
    }
}
