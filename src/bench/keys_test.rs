use super::*;

#[test]
fn zero_padded_decimal_keys() {
    assert_eq!(key(42, 8), b"00000042");
    assert_eq!(key(0, 1), b"0");
    assert_eq!(key(9999, 4), b"9999");
}

#[test]
fn sequential_keys_wrap_around_the_key_space() {
    let c = KeyChooser { key_size: 3, key_space: 5, sequential: true };
    let mut rng = Rng::new(0);
    let keys: Vec<Vec<u8>> = (3..8).map(|n| c.pick(n, &mut rng)).collect();
    assert_eq!(
        keys,
        vec![b"003".to_vec(), b"004".to_vec(), b"000".to_vec(), b"001".to_vec(), b"002".to_vec()]
    );
}

#[test]
fn random_keys_stay_in_the_key_space_and_cover_it() {
    let c = KeyChooser { key_size: 2, key_space: 10, sequential: false };
    let mut rng = Rng::new(7);
    let mut seen = [0u32; 10];
    for n in 0..10_000 {
        let k = c.pick(n, &mut rng);
        let i: usize = std::str::from_utf8(&k).unwrap().parse().unwrap();
        seen[i] += 1;
    }
    assert!(seen.iter().all(|&s| (800..1200).contains(&s)), "{seen:?}");
}

#[test]
fn clients_draw_different_sequences() {
    let (mut a, mut b) = (Rng::new(0), Rng::new(1));
    let a: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
    let b: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
    assert_ne!(a, b);
    assert!(a.iter().all(|&x| x != 0));
}
