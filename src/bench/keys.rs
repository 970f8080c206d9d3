//! Keys and their choice. Keys are zero-padded decimals of `--key-size` bytes, as in
//! etcd's benchmark: key 42 of size 8 is `00000042`. Request `n` (numbered over all
//! clients) uses key `n mod key-space` with `--seq-keys`, otherwise a key drawn
//! uniformly by the client's own [`Rng`].

/// Key number `n` as `key_size` zero-padded decimal digits (`n` must fit; the flags
/// check that the key space does).
pub fn key(n: u64, key_size: usize) -> Vec<u8> {
    let k = format!("{n:0key_size$}").into_bytes();
    debug_assert_eq!(k.len(), key_size, "key {n} does not fit in {key_size} digits");
    k
}

/// A xorshift64* generator: cheap, one per client, seeded from the client's number
/// (no need for a cryptographic or OS-seeded source to spread load over keys).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // splitmix64 of the seed: distinct, never-zero states for 0, 1, 2, ...
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n ≥ 1), by multiply-shift (bias below 2^-32 for any n
    /// a key space can have).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// How a client picks keys.
#[derive(Clone, Copy, Debug)]
pub struct KeyChooser {
    pub key_size: usize,
    pub key_space: u64,
    pub sequential: bool,
}

impl KeyChooser {
    /// The key of request `n`.
    pub fn pick(&self, n: u64, rng: &mut Rng) -> Vec<u8> {
        let i = if self.sequential { n % self.key_space } else { rng.below(self.key_space) };
        key(i, self.key_size)
    }
}

#[cfg(test)]
#[path = "keys_test.rs"]
mod keys_test;
