use super::*;

#[test]
fn orders_by_main_then_sub() {
    let mut revs = vec![Revision::new(3, 1), Revision::new(2, 5), Revision::new(3, 0), Revision::new(1, 9)];
    revs.sort();
    assert_eq!(
        revs,
        vec![Revision::new(1, 9), Revision::new(2, 5), Revision::new(3, 0), Revision::new(3, 1)]
    );
    assert!(Revision::new(2, 0) > Revision::new(1, i64::MAX));
}

#[test]
fn etcd_bytes_layout() {
    let bytes = Revision::new(0x0102, 3).to_etcd_bytes();
    assert_eq!(bytes, [0, 0, 0, 0, 0, 0, 1, 2, b'_', 0, 0, 0, 0, 0, 0, 0, 3]);
}

#[test]
fn display_is_main_dot_sub() {
    assert_eq!(Revision::new(7, 2).to_string(), "7.2");
}
