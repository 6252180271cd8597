//! vipd, the host agent. `sys` holds every syscall.

pub mod sys;
