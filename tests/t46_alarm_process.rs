//! The NOSPACE alarm, as etcd's e2e alarm test walks it, on a real member with a
//! small `--quota-backend-bytes`: writes fill the store until one is refused with
//! "database space exceeded" and the alarm stands (AlarmList, Status errors); while
//! it stands puts and lease grants are refused and deletes and reads still work; it
//! survives a restart; after compaction and defragment, disarming it lets writes in.
//! Status reports the quota (`dbSizeQuota`, as etcd 3.6); Downgrade answers as etcd
//! 3.4 does (it has no such method).

#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod support;

use etcd_client::{AlarmAction, AlarmOptions, AlarmType, Client, CompactionOptions};
use support::cluster::connect;
use support::http::{self, Request};
use support::Proc;

const QUOTA: &str = "53248";
const NO_SPACE: &str = "etcdserver: mvcc: database space exceeded";

async fn alarms(c: &mut Client) -> Vec<(u64, AlarmType)> {
    let resp = c.alarm(AlarmAction::Get, AlarmType::None, None).await.expect("alarm list");
    resp.alarms().iter().map(|a| (a.member_id(), a.alarm())).collect()
}

async fn refused_for_space<T: std::fmt::Debug>(what: &str, r: Result<T, etcd_client::Error>) {
    let e = r.expect_err(what);
    assert!(e.to_string().contains(NO_SPACE), "{what}: {e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nospace_alarm_refuses_growth_until_disarmed() {
    let dir = support::temp_dir("alarm");
    let flags = ["--quota-backend-bytes", QUOTA];
    let mut node = Proc::start(&dir, &flags);
    let mut c = connect(&node).await;
    c.put("1st", "a".repeat(64), None).await.expect("small put");
    let member = c.status().await.expect("status").header().expect("header").member_id();

    let mut accepted = 0;
    loop {
        match c.put("2nd", "b".repeat(4096), None).await {
            Ok(_) => accepted += 1,
            Err(e) => {
                assert!(e.to_string().contains(NO_SPACE), "{e}");
                break;
            }
        }
        assert!(accepted < 100, "the quota never refused a put");
    }
    assert!(accepted >= 5, "refused too early: after {accepted} puts");
    assert_eq!(alarms(&mut c).await, vec![(member, AlarmType::Nospace)]);
    let status = c.status().await.expect("status");
    assert_eq!(status.errors(), [format!("memberID:{member} alarm:NOSPACE ")]);
    // The quota in Status (etcd 3.6's dbSizeQuota), through the JSON gateway.
    let post = |path: &str| {
        let mut r = Request::new("POST", path);
        r.body = Some(b"{}".to_vec());
        http::call(node.client_port, &r, std::time::Duration::from_secs(10)).expect(path)
    };
    let st = post("/v3/maintenance/status");
    let body = String::from_utf8_lossy(&st.body).to_string();
    assert!(body.contains(&format!(r#""dbSizeQuota":"{QUOTA}""#)), "{body}");
    // Downgrade: what etcd 3.4 (no such method) answers, Unimplemented.
    let dg = post("/v3/maintenance/downgrade");
    let body = String::from_utf8_lossy(&dg.body).to_string();
    assert_eq!(dg.head.status, 501, "{body}");
    assert!(body.contains("unknown method Downgrade for service etcdserverpb.Maintenance"), "{body}");

    refused_for_space("small put under the alarm", c.put("3rd", "a", None).await).await;
    refused_for_space("lease grant under the alarm", c.lease_grant(60, None).await).await;
    let got = c.get("1st", None).await.expect("reads still work");
    assert_eq!(got.kvs().len(), 1);
    c.delete("1st", None).await.expect("deletes still work");

    // The alarm is replicated state: a restart keeps it.
    node.terminate();
    node.restart(&flags);
    let mut c = connect(&node).await;
    assert_eq!(alarms(&mut c).await, vec![(member, AlarmType::Nospace)], "after restart");
    refused_for_space("put after restart", c.put("3rd", "a", None).await).await;

    let rev = c.status().await.expect("status").header().expect("header").revision();
    c.compact(rev, Some(CompactionOptions::new().with_physical())).await.expect("compact");
    c.defragment().await.expect("defragment");
    let mut opts = AlarmOptions::new();
    opts.with_member(member);
    let cleared = c.alarm(AlarmAction::Deactivate, AlarmType::Nospace, Some(opts)).await.expect("disarm");
    assert_eq!(cleared.alarms().len(), 1, "the disarm names the alarm it cleared");
    assert!(alarms(&mut c).await.is_empty());
    assert!(c.status().await.expect("status").errors().is_empty());
    c.put("4th", "a".repeat(64), None).await.expect("a put below the quota after disarming");
}
