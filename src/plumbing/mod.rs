//! Shared plumbing below both surfaces (`http/`, `console/`): blocking work
//! and throttling. It imports nothing of the surfaces.

pub mod blocking;
pub mod throttle;
