use super::*;

fn info(url: &str) -> MemberInfo {
    MemberInfo { name: String::new(), peer_urls: vec![url.to_string()], client_urls: vec![] }
}

/// Voters 1, 2, 3 (all started unless `down`), learners as given.
fn view(down: &[u64], learners: &[u64]) -> View {
    let mut v = View { strict: true, leader_last_index: 100, ..View::default() };
    for id in [1u64, 2, 3] {
        v.voters.insert(id);
        v.nodes.insert(id, info(&format!("http://10.0.0.{id}:2380")));
        v.matched.insert(id, 100);
        if !down.contains(&id) {
            v.started.insert(id);
        }
    }
    for id in learners {
        v.nodes.insert(*id, info(&format!("http://10.0.0.{id}:2380")));
    }
    v
}

fn add(id: u64, url: &str, learner: bool) -> MemberChange {
    MemberChange::Add { id, peer_urls: vec![url.to_string()], learner }
}

#[test]
fn add_voter_and_learner() {
    let v = view(&[], &[]);
    assert_eq!(
        plan(&add(9, "http://10.0.0.9:2380", false), &v),
        Ok(Plan::AddVoter(9, info("http://10.0.0.9:2380")))
    );
    assert_eq!(
        plan(&add(9, "http://10.0.0.9:2380", true), &v),
        Ok(Plan::AddLearner(9, info("http://10.0.0.9:2380")))
    );
}

#[test]
fn add_refuses_bad_taken_or_duplicate() {
    let v = view(&[], &[]);
    assert_eq!(plan(&add(9, "10.0.0.9", false), &v), Err(Error::MemberBadUrls));
    assert_eq!(
        plan(&MemberChange::Add { id: 9, peer_urls: vec![], learner: false }, &v),
        Err(Error::MemberBadUrls)
    );
    assert_eq!(plan(&add(9, "http://10.0.0.2:2380", false), &v), Err(Error::PeerUrlExist));
    assert_eq!(plan(&add(2, "http://10.0.0.9:2380", false), &v), Err(Error::MemberExist));
}

#[test]
fn one_learner_at_a_time() {
    let v = view(&[], &[7]);
    assert_eq!(plan(&add(9, "http://10.0.0.9:2380", true), &v), Err(Error::TooManyLearners));
}

#[test]
fn strict_check_counts_started_voters() {
    // 3 voters, one down: a 4th voter needs 3 started.
    let v = view(&[3], &[]);
    assert_eq!(plan(&add(9, "http://10.0.0.9:2380", false), &v), Err(Error::MemberNotEnoughStarted));
    // Removing a started voter leaves {1 or 2, 3}: 1 started of 2 → refused.
    assert_eq!(plan(&MemberChange::Remove { id: 2 }, &v), Err(Error::MemberNotEnoughStarted));
    // Removing the down one is fine.
    assert_eq!(plan(&MemberChange::Remove { id: 3 }, &v), Ok(Plan::RemoveVoter(3)));
    // Without the strict check everything is allowed.
    let loose = View { strict: false, ..v };
    assert_eq!(plan(&MemberChange::Remove { id: 2 }, &loose), Ok(Plan::RemoveVoter(2)));
}

#[test]
fn single_member_may_add_a_second() {
    let mut v = View { strict: true, ..View::default() };
    v.voters.insert(1);
    v.started.insert(1);
    v.nodes.insert(1, info("http://10.0.0.1:2380"));
    assert!(matches!(plan(&add(2, "http://10.0.0.2:2380", false), &v), Ok(Plan::AddVoter(2, _))));
}

#[test]
fn remove_and_update() {
    let v = view(&[], &[7]);
    assert_eq!(plan(&MemberChange::Remove { id: 8 }, &v), Err(Error::MemberNotFound));
    assert_eq!(plan(&MemberChange::Remove { id: 7 }, &v), Ok(Plan::RemoveLearner(7)));
    let up = MemberChange::Update { id: 2, peer_urls: vec!["http://10.0.0.22:2380".into()] };
    assert_eq!(plan(&up, &v), Ok(Plan::SetNode(2, info("http://10.0.0.22:2380"))));
    // Keeping its own URL is not a clash; taking another member's is.
    let same = MemberChange::Update { id: 2, peer_urls: vec!["http://10.0.0.2:2380".into()] };
    assert!(plan(&same, &v).is_ok());
    let clash = MemberChange::Update { id: 2, peer_urls: vec!["http://10.0.0.3:2380".into()] };
    assert_eq!(plan(&clash, &v), Err(Error::PeerUrlExist));
    let missing = MemberChange::Update { id: 8, peer_urls: vec!["http://10.0.0.8:2380".into()] };
    assert_eq!(plan(&missing, &v), Err(Error::MemberNotFound));
}

#[test]
fn promote_only_a_learner_in_sync() {
    let mut v = view(&[], &[7]);
    assert_eq!(plan(&MemberChange::Promote { id: 2 }, &v), Err(Error::MemberNotLearner));
    assert_eq!(plan(&MemberChange::Promote { id: 8 }, &v), Err(Error::MemberNotFound));
    v.matched.insert(7, 89);
    assert_eq!(plan(&MemberChange::Promote { id: 7 }, &v), Err(Error::LearnerNotReady));
    v.matched.insert(7, 90);
    assert_eq!(plan(&MemberChange::Promote { id: 7 }, &v), Ok(Plan::Promote(7)));
}
