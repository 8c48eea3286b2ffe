//! Re-seeding the guest's random number generator after `/init`.
//!
//! Sandboxes restored from one template snapshot wake up with the same kernel
//! CRNG state, so until the kernel reseeds on its own (up to a minute later)
//! they would hand out correlated "random" numbers. On every `/init` in a VM,
//! envd mixes fresh bytes from the VMM's virtio-rng (`/dev/hwrng`, fed by the
//! host) into the pool and forces a CRNG reseed (`RNDRESEEDCRNG`).
#![allow(
    unsafe_code,
    reason = "the RNDRESEEDCRNG ioctl; its block has a SAFETY note"
)]

use std::{
    io::{Read, Write},
    os::fd::AsRawFd,
};

const SEED_BYTES: usize = 64;

// RNDRESEEDCRNG = _IO('R', 0x07), see linux/random.h.
nix::ioctl_none!(rnd_reseed_crng, b'R', 0x07);

/// Runs in the background: a slow or missing hwrng must never hold up `/init`.
pub fn reseed_in_background() {
    std::thread::spawn(|| match reseed() {
        Ok(()) => tracing::info!("CRNG reseeded from /dev/hwrng"),
        Err(err) => tracing::warn!(%err, "could not reseed the CRNG from /dev/hwrng"),
    });
}

fn reseed() -> std::io::Result<()> {
    let mut seed = [0u8; SEED_BYTES];
    std::fs::File::open("/dev/hwrng")?.read_exact(&mut seed)?;
    let mut urandom = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/urandom")?;
    urandom.write_all(&seed)?;
    // SAFETY: RNDRESEEDCRNG takes no argument; the fd is a valid open
    // /dev/urandom for the duration of the call.
    unsafe { rnd_reseed_crng(urandom.as_raw_fd()) }.map_err(std::io::Error::from)?;
    Ok(())
}
