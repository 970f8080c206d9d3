//! Seeded randomness. In simulation every draw comes from madsim's global RNG (so it
//! follows the seed and the determinism check sees it); in production from the OS.

/// A random u64.
pub fn random_u64() -> u64 {
    #[cfg(madsim)]
    {
        madsim::rand::random::<u64>()
    }
    #[cfg(not(madsim))]
    {
        #[allow(clippy::disallowed_methods)]
        rand::random::<u64>()
    }
}

/// A fresh small PRNG seeded from [`random_u64`] (cheap; deterministic in simulation).
pub fn small_rng() -> rand::rngs::SmallRng {
    use rand::SeedableRng;
    rand::rngs::SmallRng::seed_from_u64(random_u64())
}
